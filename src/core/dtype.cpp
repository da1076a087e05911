#include "core/dtype.h"

#include <cctype>

#include <algorithm>
#include <array>
#include <utility>

#include "core/checked.h"
#include "core/error.h"

namespace kvplan {

namespace {
constexpr std::array<DTypeInfo, 9> kInfo = {{
    {DType::fp32, "fp32", 32, true},
    {DType::bf16, "bf16", 16, true},
    {DType::fp16, "fp16", 16, true},
    {DType::fp8_e4m3, "fp8_e4m3", 8, true},
    {DType::fp8_e5m2, "fp8_e5m2", 8, true},
    {DType::int8, "int8", 8, false},
    {DType::int4, "int4", 4, false},
    {DType::mxfp4, "mxfp4", 4, true},
    {DType::nvfp4, "nvfp4", 4, true},
}};

// Other spellings users and HF configs use ("torch_dtype": "bfloat16").
const std::pair<const char*, DType> kAliases[] = {
    {"float32", DType::fp32},   {"float", DType::fp32},     {"bfloat16", DType::bf16},
    {"float16", DType::fp16},   {"half", DType::fp16},      {"fp8", DType::fp8_e4m3},
    {"e4m3", DType::fp8_e4m3},  {"e5m2", DType::fp8_e5m2},  {"float8_e4m3fn", DType::fp8_e4m3},
    {"float8_e5m2", DType::fp8_e5m2}, {"fp8-e4m3", DType::fp8_e4m3}, {"fp8-e5m2", DType::fp8_e5m2},
};
}  // namespace

const DTypeInfo& info(DType d) { return kInfo[static_cast<size_t>(d)]; }
const char* name(DType d) { return info(d).name; }

std::vector<std::string> dtype_aliases() {
  std::vector<std::string> out;
  for (const auto& [alias, d] : kAliases) out.push_back(alias);
  return out;
}

std::vector<std::string> dtype_names() {
  std::vector<std::string> out;
  for (const auto& i : kInfo) out.push_back(i.name);
  return out;
}

DType parse_dtype(const std::string& given) {
  std::string text = given;  // dtype names are case-insensitive: FP8 = fp8
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& i : kInfo)
    if (text == i.name) return i.dtype;
  for (const auto& [alias, d] : kAliases)
    if (text == alias) return d;
  std::string all;
  for (const auto& i : kInfo) all += (all.empty() ? "" : ", ") + std::string(i.name);
  all += "; aliases fp8 = fp8_e4m3, bfloat16, float16, float32";
  // Suggestions from the names and their aliases with the same digits (a dtype's digits are its
  // widths: bf61 may be bf16, but float8 is no misspelt float or float32, nor int3 int8).
  auto digits = [](const std::string& n) {
    std::string d;
    for (char c : n)
      if (std::isdigit(static_cast<unsigned char>(c))) d += c;
    std::sort(d.begin(), d.end());
    return d;
  };
  std::vector<std::string> same;
  for (const std::vector<std::string>& list : {dtype_names(), dtype_aliases()})
    for (const std::string& n : list)
      if (digits(n) == digits(text)) same.push_back(n);
  throw Error("unknown dtype '" + given + "' (expected one of: " + all + ")" + did_you_mean(text, same));
}

int64_t element_bytes(DType d, int64_t elements) {
  return ceil_div(mul(elements, info(d).bits), 8);
}

KvQuant kv_quant(DType d) {
  switch (d) {
    case DType::fp8_e4m3:
    case DType::fp8_e5m2:
      return {ScaleGranularity::per_tensor, 0, 4};
    case DType::int8:
      return {ScaleGranularity::per_token_head, 0, 2};
    case DType::int4:
      return {ScaleGranularity::per_group, 32, 2};
    case DType::mxfp4:
      return {ScaleGranularity::per_group, 32, 1};
    case DType::nvfp4:
      return {ScaleGranularity::per_group, 16, 1};
    default:
      return {ScaleGranularity::none, 0, 0};
  }
}

int64_t kv_head_vector_bytes(DType d, int64_t head_dim) {
  const KvQuant q = kv_quant(d);
  int64_t bytes = element_bytes(d, head_dim);
  if (q.granularity == ScaleGranularity::per_token_head) bytes += q.scale_bytes;
  if (q.granularity == ScaleGranularity::per_group) bytes += mul(ceil_div(head_dim, q.group_size), q.scale_bytes);
  return bytes;
}

WeightQuant weight_quant(DType d) {
  switch (d) {
    case DType::fp8_e4m3:
    case DType::fp8_e5m2:
      return {ScaleGranularity::per_channel, 0, 4};
    case DType::int8:
      return {ScaleGranularity::per_channel, 0, 2};
    case DType::int4:
      return {ScaleGranularity::per_group, 128, 2};
    case DType::mxfp4:
      return {ScaleGranularity::per_group, 32, 1};
    case DType::nvfp4:
      return {ScaleGranularity::per_group, 16, 1};
    default:
      return {ScaleGranularity::none, 0, 0};
  }
}

int64_t matrix_bytes(DType d, int64_t rows, int64_t cols) {
  const WeightQuant q = weight_quant(d);
  int64_t bytes = mul(rows, ceil_div(mul(cols, info(d).bits), 8));
  if (q.granularity == ScaleGranularity::per_channel) bytes = add(bytes, mul(rows, q.scale_bytes));
  if (q.granularity == ScaleGranularity::per_group)
    bytes = add(bytes, mul(rows, ceil_div(cols, q.group_size), q.scale_bytes));
  // NVFP4 checkpoints (ModelOpt, compressed-tensors) also keep two fp32 scalars per matrix:
  // weight_scale_2 (the per-tensor scale) and input_scale.
  if (d == DType::nvfp4) bytes = add(bytes, 8);
  return bytes;
}

std::string describe_kv_quant(DType d) {
  switch (kv_quant(d).granularity) {
    case ScaleGranularity::per_tensor:
      return std::string(name(d)) + ", per-tensor fp32 scales for K and V (static, 0 B/token)";
    case ScaleGranularity::per_token_head:
      return std::string(name(d)) + ", one fp16 scale per token per head for K and for V";
    case ScaleGranularity::per_group:
      return std::string(name(d)) + (d == DType::mxfp4   ? ", one e8m0 scale per group of 32 elements"
                                     : d == DType::nvfp4 ? ", one fp8 e4m3 scale per group of 16 elements"
                                                         : ", one fp16 scale per group of 32 elements");
    default:
      return std::string(name(d)) + ", unquantized";
  }
}

std::string describe_weight_quant(DType d) {
  switch (weight_quant(d).granularity) {
    case ScaleGranularity::per_channel:
      return std::string(name(d)) + ", one " + (d == DType::int8 ? "fp16" : "fp32") +
             " scale per output channel (linear layers only)";
    case ScaleGranularity::per_group:
      return std::string(name(d)) +
             (d == DType::mxfp4   ? ", one e8m0 scale per group of 32 inputs (linear layers only)"
              : d == DType::nvfp4 ? ", one fp8 e4m3 scale per group of 16 inputs and two fp32 scalars per matrix (linear layers only)"
                                  : ", one fp16 scale per group of 128 inputs, symmetric (linear layers only)");
    default:
      return std::string(name(d)) + ", unquantized";
  }
}

}  // namespace kvplan
