// The previous selective-state update (prepare.sh REV writes ssm_old_copy.cu), renamed so it links beside the current one.
#define kvplan kvplan_old
#include "ssm_old_copy.cu"
extern "C" void old_ssm_update(const void* u, cudaStream_t s) {
  kvplan_old::gpu::launch_ssm_update(*static_cast<const kvplan_old::gpu::SsmUpdate*>(u), s);
}
