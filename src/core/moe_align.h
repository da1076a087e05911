// vLLM's routing alignment before its fused MoE kernels (moe_align_block_size,
// csrc/moe/moe_align_sum_kernels.cu, v0.10 to v0.19): one kernel with a serial offset scan while the
// top-k ids number fewer than 1024 and the experts at most 64 ("small batch expert mode"), else two,
// a block-wide scan and a count-and-sort kernel. The timing model counts the second kernel
// (layer_work.h) and kvplan's engine-like step launches it (src/gpu/moe.cu).
#pragma once

#include <cstdint>

namespace kvplan {

constexpr bool moe_align_two_kernels(int64_t experts, int64_t topk_ids) { return experts > 64 || topk_ids >= 1024; }

}  // namespace kvplan
