#include <cblas.h>

// LAPACK's Cholesky factorisation and triangular inverse (OpenBLAS carries LAPACK); column-major.
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void strtri_(const char *uplo, const char *diag, const int *n, float *a, const int *lda, int *info);
