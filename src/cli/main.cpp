// kvplan: capacity planner and cost calculator for LLM inference. Registers the subcommands,
// parses, and turns every error into one line on stderr and an exit status.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

#include "cli/subcommands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"kvplan: KV-cache, memory, speed and cost planning for LLM inference"};
  app.name("kvplan");
  app.set_version_flag("--version", std::string("kvplan ") + KVPLAN_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  kvplan::cli::Globals globals;
  globals.argv.assign(argv, argv + argc);
  app.add_option("--data-dir", globals.data_dir, "Folder with models/ and presets/ that add or override bundled entries")
      ->envname("KVPLAN_DATA_DIR");
  kvplan::cli::setup_estimate(app, globals);
  kvplan::cli::setup_fit(app, globals);
  kvplan::cli::setup_plan(app, globals);
  kvplan::cli::setup_compare(app, globals);
  kvplan::cli::setup_check(app, globals);
  kvplan::cli::setup_sweep(app, globals);
  kvplan::cli::setup_list(app, globals);
  kvplan::cli::setup_show(app, globals);
  kvplan::cli::setup_validate(app, globals);
  kvplan::cli::setup_calibrate(app, globals);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "kvplan: error: {}\n", e.what());
    return 2;
  } catch (const kvplan::Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "kvplan: error: {}\n", e.located());
    return e.exit_status();
  } catch (const std::exception& e) {
    fmt::print(stderr, "kvplan: internal error: {}\n", e.what());
    return 70;
  }
  return globals.exit_status;
}
