// Each subcommand lives in its own file and registers itself on the app here.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/common.h"

namespace kvplan::cli {

void setup_check(CLI::App& app, Globals& globals);
void setup_compare(CLI::App& app, Globals& globals);
void setup_fit(CLI::App& app, Globals& globals);
void setup_plan(CLI::App& app, Globals& globals);
void setup_estimate(CLI::App& app, Globals& globals);
void setup_list(CLI::App& app, Globals& globals);
void setup_show(CLI::App& app, Globals& globals);
void setup_validate(CLI::App& app, Globals& globals);
void setup_calibrate(CLI::App& app, Globals& globals);
void setup_sweep(CLI::App& app, Globals& globals);

}  // namespace kvplan::cli
