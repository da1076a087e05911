# Sourced by the GPU-machine scripts after they set OUT: the output folder, the binaries (BIN:
# KVPLAN_BIN or gpu-bin), the CUDA libraries, a log of everything in $OUT/log.txt, the device and
# kvplan's version, and CARD (h200 or h100-sxm: the bundled preset of the card).
BIN=${KVPLAN_BIN:-gpu-bin}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
exec > >(tee -a "$OUT/log.txt") 2>&1
echo "== device"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,power.limit --format=csv
"$BIN/kvplan" --version
case "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" in
  *H200*) CARD=h200 ;;
  *) CARD=h100-sxm ;;
esac
