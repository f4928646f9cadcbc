/* The only door between protoc-c's generated ONNX code and Swift: decode a model
 * file or buffer (streaming initializers so peak memory stays near the file size),
 * decode a lone TensorProto, and free what was decoded. */
#ifndef NPUCC_ONNX_SHIM_H
#define NPUCC_ONNX_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include "onnx.pb-c.h"

/* Decodes the ModelProto in the file at `path`. On failure returns NULL and writes a
 * one-line reason (with the byte offset where known) into `error`. */
Onnx__ModelProto *npucc_onnx_read_model_file(const char *path, char *error, size_t error_size);

/* Decodes a ModelProto from memory; same contract as npucc_onnx_read_model_file. */
Onnx__ModelProto *npucc_onnx_decode_model(const uint8_t *data, size_t size, char *error, size_t error_size);

void npucc_onnx_free_model(Onnx__ModelProto *model);

/* Decodes a lone TensorProto (the .pb files of ONNX's test data sets). */
Onnx__TensorProto *npucc_onnx_read_tensor_file(const char *path, char *error, size_t error_size);

void npucc_onnx_free_tensor(Onnx__TensorProto *tensor);

/* Releases a bytes field's buffer to the caller: the field is emptied and the pointer
 * returned must be freed with npucc_onnx_free_bytes. */
void *npucc_onnx_take_bytes(ProtobufCBinaryData *field);

void npucc_onnx_free_bytes(void *data);

#endif
