// Each subcommand lives in its own file; main registers them from the table here.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/common.h"

namespace kvplan::cli {

void setup_calibrate(CLI::App* sub, Globals& globals);
void setup_check(CLI::App* sub, Globals& globals);
void setup_completion(CLI::App* sub, Globals& globals);
void setup_compare(CLI::App* sub, Globals& globals);
void setup_estimate(CLI::App* sub, Globals& globals);
void setup_fit(CLI::App* sub, Globals& globals);
void setup_list(CLI::App* sub, Globals& globals);
void setup_plan(CLI::App* sub, Globals& globals);
void setup_show(CLI::App* sub, Globals& globals);
void setup_sweep(CLI::App* sub, Globals& globals);
void setup_validate(CLI::App* sub, Globals& globals);

// A subcommand as main registers it: its name and one-line description (shown by `kvplan --help`),
// and the function that adds its options and callback to it. main sets up only the subcommands
// a command line names, so a query does not pay for building every subcommand's options, except
// for a subcommand that reads them all (`completion`).
struct Subcommand {
  const char* name;
  const char* description;
  void (*setup)(CLI::App* sub, Globals& globals);
  bool reads_every_subcommand = false;
};

inline constexpr Subcommand kSubcommands[] = {
    {"estimate", "Size the KV cache, state and memory of a model on a GPU", setup_estimate},
    {"fit", "Largest batch at a context (--context) or longest context at a batch (--batch)", setup_fit},
    {"plan", "How many GPUs (replicas x tp) a request rate needs, and what it costs", setup_plan},
    {"compare", "Compare models (--model A,B,C) and/or GPUs (--gpu X,Y,Z): one row each", setup_compare},
    {"check", "Check deployment files against their limits (exit 0 pass, 1 a check fails, 2 bad input)", setup_check},
    {"sweep",
     "Estimate over lists and ranges: --model a,b --gpu x,y --kv-dtype bf16,fp8_e4m3 --tp 1,2 --context 1k..1M:x2 "
     "--batch 1..256:x2 (LO..HI:xF geometric, LO..HI:+S arithmetic, or comma lists); one row per point",
     setup_sweep},
    {"list", "List the bundled models, GPU presets or engine profiles", setup_list},
    {"show", "Show a model's resolved per-layer structure, or a GPU preset", setup_show},
    {"validate", "Time kernels shaped like a model's decode step on the local GPU against kvplan's prediction", setup_validate},
    {"calibrate", "Measure the local GPU and write a calibrated preset YAML", setup_calibrate},
    {"completion", "Print a bash, zsh or fish completion script (kvplan completion bash > FILE)", setup_completion, true},
};

}  // namespace kvplan::cli
