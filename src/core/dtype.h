// Numeric formats for weights, KV cache and SSM state, with the storage each costs including
// the scales of quantized formats (docs/formulas.md, "Data types").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvplan {

// mxfp4: OCP microscaling FP4 (e2m1) with one e8m0 (1-byte) scale per 32 elements (gpt-oss experts).
// nvfp4: NVIDIA FP4 (e2m1) with one fp8 e4m3 scale per 16 elements and an fp32 scale per tensor.
enum class DType { fp32, bf16, fp16, fp8_e4m3, fp8_e5m2, int8, int4, mxfp4, nvfp4 };

// How a quantized format stores its scales. Unquantized formats have granularity none.
enum class ScaleGranularity { none, per_tensor, per_token_head, per_channel, per_group };

struct DTypeInfo {
  DType dtype;
  const char* name;   // canonical spelling, as accepted on the command line
  int bits;           // bits per element
  bool is_float;
};

const DTypeInfo& info(DType d);
const char* name(DType d);
// Parses a dtype name (also accepts aliases such as "fp8" = fp8_e4m3, "bfloat16", "float16");
// throws kvplan::Error with a "did you mean" on an unknown name.
DType parse_dtype(const std::string& text);
std::vector<std::string> dtype_names();
std::vector<std::string> dtype_aliases();  // other spellings parse_dtype takes (bfloat16, fp8)

// Bytes to store `elements` values of dtype d, rounded up to whole bytes (int4 packs two per byte).
int64_t element_bytes(DType d, int64_t elements);

// Scale layout used for a format when it stores the KV cache: fp8 per-tensor (static scales
// kept with the weights, 0 bytes per token), int8 per token and head, int4 per group of 32.
struct KvQuant {
  ScaleGranularity granularity;
  int group_size;     // elements sharing one scale (per_token_head: head_dim; per_group: group)
  int scale_bytes;    // bytes of one scale (fp16 = 2)
};
KvQuant kv_quant(DType d);
// Bytes per token for one head vector of `head_dim` elements, scales included.
int64_t kv_head_vector_bytes(DType d, int64_t head_dim);

// Scale layout for weights: fp8 per output channel (fp32 scale), int8 per output channel
// (fp16 scale), int4 per group of 128 along the input dim (fp16 scale, symmetric, no zero point).
struct WeightQuant {
  ScaleGranularity granularity;
  int group_size;
  int scale_bytes;
};
WeightQuant weight_quant(DType d);
// Bytes of one linear weight matrix [rows = out, cols = in] in dtype d, scales included.
int64_t matrix_bytes(DType d, int64_t rows, int64_t cols);

std::string describe_kv_quant(DType d);
std::string describe_weight_quant(DType d);

}  // namespace kvplan
