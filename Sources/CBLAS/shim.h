#include <cblas.h>

// LAPACK's Cholesky factorisation and inverse (OpenBLAS carries LAPACK); column-major.
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
