// `kvplan calibrate --out FILE`: measures the local GPU and writes a preset YAML whose efficiency
// block comes from the measurements (kvplan estimate --gpu FILE reads it).
#include <fmt/format.h>

#include <chrono>
#include <memory>

#include "cli/subcommands.h"
#include "core/error.h"
#include "gpu/host/availability.h"
#include "gpu/host/report.h"
#include "io/files.h"
#include "io/gpu_yaml.h"
#if KVPLAN_HAVE_CUDA
#include "gpu/run.h"
#endif

namespace kvplan::cli {

namespace {

struct CalibrateOptions {
  std::string out;
  std::string base;  // preset whose datasheet fields the calibrated preset keeps
};

// The output path and the --base preset, checked before any GPU is touched (in kvplan as in
// kvplan-gpu): a folder that exists, not a folder itself, not an input file.
void check_calibrate_arguments(const CalibrateOptions& o, const Registry& registry) {
  check_output_path(o.out, "--out");
  if (!o.base.empty()) registry.resolve_gpu(o.base);
}

void run_calibrate_command(const CalibrateOptions& o, Globals& globals) {
  const Registry registry = globals.registry();
  check_calibrate_arguments(o, registry);
#if !KVPLAN_HAVE_CUDA
  globals.exit_status = run_on_gpu_helper("calibrate", globals);
#else
  gpu::Calibration c;
  std::string base_id = o.base;
  // The preset to take datasheet figures from: given, or guessed from the device's name.
  const gpu::DeviceInfo dev = gpu::local_device("calibrate");
  if (base_id.empty()) {
    if (dev.name.find("H200") != std::string::npos) base_id = "h200";
    else if (dev.name.find("H100") != std::string::npos && dev.name.find("PCIe") != std::string::npos) base_id = "h100-pcie";
    else if (dev.name.find("H100") != std::string::npos) base_id = "h100-sxm";
    else throw Error("calibrate: no bundled preset matches '" + dev.name + "'; name one with --base");
  }
  const Gpu base = registry.resolve_gpu(base_id);
  c = gpu::run_calibrate(base, ProgressLine{});
  const std::string yaml = gpu::render_calibrated_preset(base, c);
  parse_gpu_yaml(yaml, o.out, base.id + "-calibrated");  // what we write must load
  write_text_file(o.out, yaml);
  print(yaml);
#endif
}

}  // namespace

void setup_calibrate(CLI::App* sub, Globals& globals) {
  auto o = std::make_shared<CalibrateOptions>();
  sub->add_option("--out,-o", o->out, "Preset YAML to write (e.g. presets/h100-sxm-calibrated.yaml)")
      ->type_name("FILE")
      ->required();
  sub->add_option("--base", o->base, "Bundled preset for the datasheet fields (default: from the device name)")
      ->type_name("GPU");
  sub->callback([o, &globals] { run_calibrate_command(*o, globals); });
}

}  // namespace kvplan::cli
