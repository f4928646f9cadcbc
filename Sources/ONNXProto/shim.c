/* Model decoding for Swift. A ModelProto is decoded in pieces: the model and graph
 * without their initializers first, then each initializer on its own, releasing the
 * file's pages behind it, so that peak memory stays close to the size of the weights. */
#include "onnx_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { FIELD_GRAPH = 7, FIELD_INITIALIZER = 5, WIRE_VARINT = 0, WIRE_FIXED64 = 1,
       WIRE_LENGTH = 2, WIRE_FIXED32 = 5 };

static void fail(char *error, size_t size, const char *format, ...) {
    if (!error || size == 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(error, size, format, args);
    va_end(args);
}

/* Reads a varint at *pos (< end); returns 0 when it is truncated or too long. */
static int read_varint(const uint8_t *data, size_t *pos, size_t end, uint64_t *value) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= end) return 0;
        uint8_t byte = data[(*pos)++];
        result |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) { *value = result; return 1; }
    }
    return 0;
}

/* One field of a message: its number, wire type, and where its bytes lie. */
typedef struct {
    uint32_t number;
    int wire;
    size_t start;   /* the tag's first byte */
    size_t payload; /* the first byte after the tag (and length, for WIRE_LENGTH) */
    size_t end;     /* one past the field's last byte */
} Field;

/* Reads the field at *pos within [.., end); returns 0 and fills `error` when malformed. */
static int next_field(const uint8_t *data, size_t *pos, size_t end, const char *message,
                      Field *field, char *error, size_t error_size) {
    uint64_t tag, length;
    field->start = *pos;
    if (!read_varint(data, pos, end, &tag)) {
        fail(error, error_size, "truncated field tag in %s at byte %zu", message, field->start);
        return 0;
    }
    field->number = (uint32_t)(tag >> 3);
    field->wire = (int)(tag & 7);
    if (field->number == 0) {
        fail(error, error_size, "invalid field number 0 in %s at byte %zu", message, field->start);
        return 0;
    }
    switch (field->wire) {
    case WIRE_VARINT:
        if (!read_varint(data, pos, end, &length)) {
            fail(error, error_size, "truncated varint in %s at byte %zu", message, field->start);
            return 0;
        }
        break;
    case WIRE_FIXED64:
    case WIRE_FIXED32: {
        size_t width = field->wire == WIRE_FIXED64 ? 8 : 4;
        if (end - *pos < width) {
            fail(error, error_size, "truncated fixed-width field in %s at byte %zu", message, field->start);
            return 0;
        }
        *pos += width;
        break;
    }
    case WIRE_LENGTH:
        if (!read_varint(data, pos, end, &length) || length > end - *pos) {
            fail(error, error_size, "truncated length-delimited field %u in %s at byte %zu",
                 field->number, message, field->start);
            return 0;
        }
        field->payload = *pos;
        *pos += (size_t)length;
        break;
    default:
        fail(error, error_size, "unsupported wire type %d for field %u in %s at byte %zu",
             field->wire, field->number, message, field->start);
        return 0;
    }
    if (field->wire != WIRE_LENGTH) field->payload = field->start;
    field->end = *pos;
    return 1;
}

static size_t put_varint(uint8_t *out, uint64_t value) {
    size_t n = 0;
    do {
        uint8_t byte = value & 0x7f;
        value >>= 7;
        out[n++] = byte | (value ? 0x80 : 0);
    } while (value);
    return n;
}

typedef struct { size_t start, end; } Range;

/* The wire type each ModelProto field must have (-1: unknown field, any type). */
static int model_wire(uint32_t number) {
    switch (number) {
    case 1: case 5: return WIRE_VARINT;
    case 2: case 3: case 4: case 6: case 7: case 8: case 14: case 25: return WIRE_LENGTH;
    default: return -1;
    }
}

static const char *graph_field_name(uint32_t number) {
    switch (number) {
    case 1: return "node";
    case 11: return "input";
    case 12: return "output";
    case 13: return "value_info";
    case 15: return "sparse_initializer";
    default: return NULL;
    }
}

/* Called when protobuf-c refused the model: finds the first field or nested message
 * at fault so the error can name it and its byte offset. */
static void diagnose(const uint8_t *data, size_t size, size_t graph_start, size_t graph_end,
                     char *error, size_t error_size) {
    Field field;
    size_t pos = 0;
    while (pos < size && next_field(data, &pos, size, "ModelProto", &field, error, error_size)) {
        int wire = model_wire(field.number);
        if (wire >= 0 && wire != field.wire) {
            fail(error, error_size, "ModelProto field %u at byte %zu has wire type %d, expected %d",
                 field.number, field.start, field.wire, wire);
            return;
        }
        if (field.number == 8 && !onnx__operator_set_id_proto__unpack(NULL, field.end - field.payload, data + field.payload)) {
            fail(error, error_size, "malformed ModelProto.opset_import at byte %zu", field.start);
            return;
        }
    }
    size_t counts[32] = {0};
    for (pos = graph_start; pos < graph_end;) {
        if (!next_field(data, &pos, graph_end, "GraphProto", &field, error, error_size)) return;
        if (field.number <= 16 && field.wire != WIRE_LENGTH) {
            fail(error, error_size, "GraphProto field %u at byte %zu has wire type %d, expected 2",
                 field.number, field.start, field.wire);
            return;
        }
        const char *name = graph_field_name(field.number);
        if (!name) continue;
        size_t index = counts[field.number]++;
        const ProtobufCMessageDescriptor *descriptor =
            field.number == 1 ? &onnx__node_proto__descriptor
            : field.number == 15 ? &onnx__sparse_tensor_proto__descriptor : &onnx__value_info_proto__descriptor;
        ProtobufCMessage *message = protobuf_c_message_unpack(descriptor, NULL, field.end - field.payload, data + field.payload);
        if (!message) {
            fail(error, error_size, "malformed GraphProto.%s[%zu] at byte %zu (a field has the wrong type or a nested message is invalid)",
                 name, index, field.start);
            return;
        }
        protobuf_c_message_free_unpacked(message, NULL);
    }
    fail(error, error_size, "malformed ModelProto (a field has the wrong type or a nested message is invalid)");
}

/* The messages of a model that hold one another: subgraphs in attributes, types in types.
 * protobuf-c decodes nested messages by recursion with no limit, so a file nesting them
 * thousands deep (a few hundred kilobytes) would overflow the stack: such nesting is
 * measured first, without recursion past the limit, and refused. */
enum Kind { KIND_NONE, KIND_MODEL, KIND_GRAPH, KIND_NODE, KIND_ATTRIBUTE, KIND_VALUE_INFO, KIND_TYPE,
            KIND_TYPE_ELEMENT, KIND_TYPE_MAP, KIND_FUNCTION };
enum { MAX_NESTING = 256 };

static enum Kind child_kind(enum Kind kind, uint32_t number) {
    switch (kind) {
    case KIND_MODEL: return number == 7 ? KIND_GRAPH : number == 25 ? KIND_FUNCTION : KIND_NONE;
    case KIND_GRAPH: return number == 1 ? KIND_NODE : number >= 11 && number <= 13 ? KIND_VALUE_INFO : KIND_NONE;
    case KIND_FUNCTION:
        return number == 7 ? KIND_NODE : number == 11 ? KIND_ATTRIBUTE : number == 12 ? KIND_VALUE_INFO : KIND_NONE;
    case KIND_NODE: return number == 5 ? KIND_ATTRIBUTE : KIND_NONE;
    case KIND_ATTRIBUTE:
        return number == 6 || number == 11 ? KIND_GRAPH : number == 14 || number == 15 ? KIND_TYPE : KIND_NONE;
    case KIND_VALUE_INFO: return number == 2 ? KIND_TYPE : KIND_NONE;
    /* sequence_type and optional_type hold an element type (field 1); map_type its value's (field 2). */
    case KIND_TYPE: return number == 4 || number == 9 ? KIND_TYPE_ELEMENT : number == 5 ? KIND_TYPE_MAP : KIND_NONE;
    case KIND_TYPE_ELEMENT: return number == 1 ? KIND_TYPE : KIND_NONE;
    case KIND_TYPE_MAP: return number == 2 ? KIND_TYPE : KIND_NONE;
    default: return KIND_NONE;
    }
}

/* Whether the messages in [start, end) of `kind` nest at most MAX_NESTING deep. Malformed
 * bytes end the walk there: decoding reports them. */
static int nesting_within_limit(const uint8_t *data, size_t start, size_t end, enum Kind kind, int depth,
                                char *error, size_t error_size) {
    if (depth > MAX_NESTING) {
        fail(error, error_size, "messages nested more than %d deep (subgraphs or types within one another) at byte %zu",
             MAX_NESTING, start);
        return 0;
    }
    char ignored[8];
    Field field;
    for (size_t pos = start; pos < end;) {
        if (!next_field(data, &pos, end, "message", &field, ignored, sizeof ignored)) return 1;
        enum Kind child = field.wire == WIRE_LENGTH ? child_kind(kind, field.number) : KIND_NONE;
        if (child != KIND_NONE &&
            !nesting_within_limit(data, field.payload, field.end, child, depth + 1, error, error_size))
            return 0;
    }
    return 1;
}

Onnx__ModelProto *npucc_onnx_decode_model(const uint8_t *data, size_t size, char *error, size_t error_size) {
    if (!nesting_within_limit(data, 0, size, KIND_MODEL, 0, error, error_size)) return NULL;
    /* Pass 1: find the graph field and, inside it, the initializers. */
    size_t pos = 0, graph_start = 0, graph_end = 0;
    int graphs = 0;
    Field field;
    while (pos < size) {
        if (!next_field(data, &pos, size, "ModelProto", &field, error, error_size)) return NULL;
        if (field.number == FIELD_GRAPH) {
            if (field.wire != WIRE_LENGTH) {
                fail(error, error_size, "ModelProto.graph has wire type %d at byte %zu", field.wire, field.start);
                return NULL;
            }
            graphs++;
            graph_start = field.payload;
            graph_end = field.end;
        }
    }
    if (graphs > 1) { /* merged graphs are legal protobuf but never written: decode plainly */
        Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, size, data);
        if (!model) fail(error, error_size, "malformed ModelProto");
        return model;
    }

    size_t count = 0, capacity = 0;
    Range *initializers = NULL;
    uint8_t *skeleton = malloc(size + 16);
    if (!skeleton) { fail(error, error_size, "out of memory"); return NULL; }
    size_t graph_bytes = 0;
    /* The graph without its initializers goes first into the tail of `skeleton`. */
    uint8_t *graph_copy = graph_end > graph_start ? malloc(graph_end - graph_start) : NULL;
    if (graph_end > graph_start && !graph_copy) { fail(error, error_size, "out of memory"); goto failed; }
    for (pos = graph_start; pos < graph_end;) {
        if (!next_field(data, &pos, graph_end, "GraphProto", &field, error, error_size)) goto failed;
        if (field.number == FIELD_INITIALIZER && field.wire == WIRE_LENGTH) {
            if (count == capacity) {
                capacity = capacity ? capacity * 2 : 64;
                Range *grown = realloc(initializers, capacity * sizeof(Range));
                if (!grown) { fail(error, error_size, "out of memory"); goto failed; }
                initializers = grown;
            }
            initializers[count++] = (Range){field.payload, field.end};
        } else {
            memcpy(graph_copy + graph_bytes, data + field.start, field.end - field.start);
            graph_bytes += field.end - field.start;
        }
    }
    /* Pass 2: the model's other fields, then the graph skeleton as field 7. */
    size_t length = 0;
    for (pos = 0; pos < size;) {
        next_field(data, &pos, size, "ModelProto", &field, error, error_size);
        if (field.number == FIELD_GRAPH) continue;
        memcpy(skeleton + length, data + field.start, field.end - field.start);
        length += field.end - field.start;
    }
    if (graphs) {
        uint8_t *grown = realloc(skeleton, length + graph_bytes + 16);
        if (!grown) { fail(error, error_size, "out of memory"); goto failed; }
        skeleton = grown;
        skeleton[length++] = (FIELD_GRAPH << 3) | WIRE_LENGTH;
        length += put_varint(skeleton + length, graph_bytes);
        if (graph_bytes) memcpy(skeleton + length, graph_copy, graph_bytes);
        length += graph_bytes;
    }
    free(graph_copy);
    graph_copy = NULL;
    Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, length, skeleton);
    free(skeleton);
    skeleton = NULL;
    if (!model) {
        diagnose(data, size, graph_start, graph_end, error, error_size);
        free(initializers);
        return NULL;
    }
    if (count) {
        Onnx__GraphProto *graph = model->graph;
        graph->initializer = calloc(count, sizeof(Onnx__TensorProto *));
        if (!graph->initializer) { fail(error, error_size, "out of memory"); goto failed_model; }
        long page = sysconf(_SC_PAGESIZE);
        for (size_t i = 0; i < count; i++) {
            Range r = initializers[i];
            Onnx__TensorProto *tensor = onnx__tensor_proto__unpack(NULL, r.end - r.start, data + r.start);
            if (!tensor) {
                fail(error, error_size, "malformed TensorProto in initializer %zu at byte %zu", i, r.start);
                goto failed_model;
            }
            graph->initializer[graph->n_initializer++] = tensor;
            /* Give back the file pages already copied (a no-op for heap buffers). */
            uintptr_t first = ((uintptr_t)(data + r.start) + page - 1) & ~(uintptr_t)(page - 1);
            uintptr_t last = (uintptr_t)(data + r.end) & ~(uintptr_t)(page - 1);
            if (last > first) madvise((void *)first, last - first, MADV_DONTNEED);
        }
    }
    free(initializers);
    return model;

failed_model:
    free(initializers);
    onnx__model_proto__free_unpacked(model, NULL);
    return NULL;
failed:
    free(graph_copy);
    free(skeleton);
    free(initializers);
    return NULL;
}

/* Maps a whole file read-only; returns NULL (and *size 0) for an empty file. */
static const uint8_t *map_file(const char *path, size_t *size, int *failed, char *error, size_t error_size) {
    *failed = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fail(error, error_size, "cannot open: %s", strerror(errno));
        *failed = 1;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fail(error, error_size, "not a regular file");
        close(fd);
        *failed = 1;
        return NULL;
    }
    *size = (size_t)st.st_size;
    if (*size == 0) { close(fd); return NULL; }
    void *mapped = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (mapped == MAP_FAILED) {
        fail(error, error_size, "cannot map: %s", strerror(errno));
        *failed = 1;
        return NULL;
    }
    madvise(mapped, *size, MADV_SEQUENTIAL);
    return mapped;
}

Onnx__ModelProto *npucc_onnx_read_model_file(const char *path, char *error, size_t error_size) {
    size_t size = 0;
    int failed;
    const uint8_t *data = map_file(path, &size, &failed, error, error_size);
    if (failed) return NULL;
    if (size == 0) {
        fail(error, error_size, "empty file");
        return NULL;
    }
    Onnx__ModelProto *model = npucc_onnx_decode_model(data, size, error, error_size);
    munmap((void *)data, size);
    return model;
}

void npucc_onnx_free_model(Onnx__ModelProto *model) {
    if (model) onnx__model_proto__free_unpacked(model, NULL);
}

Onnx__TensorProto *npucc_onnx_read_tensor_file(const char *path, char *error, size_t error_size) {
    size_t size = 0;
    int failed;
    const uint8_t *data = map_file(path, &size, &failed, error, error_size);
    if (failed) return NULL;
    static const uint8_t empty = 0;
    Onnx__TensorProto *tensor = onnx__tensor_proto__unpack(NULL, size, size ? data : &empty);
    if (size) munmap((void *)data, size);
    if (!tensor) fail(error, error_size, "malformed TensorProto");
    return tensor;
}

void npucc_onnx_free_tensor(Onnx__TensorProto *tensor) {
    if (tensor) onnx__tensor_proto__free_unpacked(tensor, NULL);
}

void *npucc_onnx_take_bytes(ProtobufCBinaryData *field) {
    void *data = field->data;
    field->data = NULL;
    field->len = 0;
    return data;
}

void npucc_onnx_free_bytes(void *data) { free(data); }
