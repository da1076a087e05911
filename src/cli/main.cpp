// kvplan: capacity planner and cost calculator for LLM inference. Registers the subcommands,
// parses, and turns every error into one line on stderr and an exit status.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "cli/subcommands.h"
#include "core/error.h"

namespace {

// An option given an empty value (`--gen ''`, `--gen=`): one line naming it, as a bad number would
// be, never "unset". Options with their own check (a list of names) say what they accept instead.
void check_value(const CLI::Option* o, const std::string& flag, const std::string& value) {
  if (!value.empty()) return;
  try {
    const_cast<CLI::Option*>(o)->get_validator(0);  // CLI11 2.1 has no const lookup
    return;
  } catch (const CLI::OptionNotFound&) {
  }
  throw kvplan::Error(flag + ": an empty value");
}

// Misspellings CLI11 would report vaguely ("A subcommand is required", "--model is required",
// "arguments were not expected"): an unknown subcommand or an option its subcommand lacks, named
// with "did you mean". Option values are skipped by shape: a token after an option that takes one,
// and checked for emptiness.
void check_spelling(const CLI::App& app, int argc, char** argv) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
  const CLI::App* sub = nullptr;
  auto known = [](const CLI::App* a, const std::string& flag, const CLI::Option*& option) {
    for (const CLI::Option* o : a->get_options()) {
      for (const std::string& n : o->get_lnames())
        if ("--" + n == flag) return option = o, true;
      for (const std::string& n : o->get_snames())
        if ("-" + n == flag) return option = o, true;
    }
    return false;
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.rfind("-", 0) == 0 && arg.size() > 1 && !std::isdigit(static_cast<unsigned char>(arg[1]))) {
      const std::string flag = arg.substr(0, arg.find('='));
      const CLI::Option* option = nullptr;
      if (known(&app, flag, option) || (sub && known(sub, flag, option))) {
        if (option->get_expected_max() == 0) continue;
        const size_t eq = arg.find('=');
        if (eq != std::string::npos) check_value(option, flag, arg.substr(eq + 1));
        else if (++i < argc) check_value(option, flag, argv[i]);
        continue;
      }
      if (flag == "--help" || flag == "-h" || flag == "--version") return;
      std::vector<std::string> options;
      for (const CLI::App* a : {&app, sub})
        if (a)
          for (const CLI::Option* o : a->get_options())
            for (const std::string& n : o->get_lnames()) options.push_back("--" + n);
      throw kvplan::Error("unknown option '" + flag + "'" + (sub ? " for `kvplan " + sub->get_name() + "`" : "") +
                          kvplan::did_you_mean(flag, options));
    }
    if (sub) continue;  // a positional of the subcommand
    for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; }))
      if (s->get_name() == arg) sub = s;
    if (!sub)
      throw kvplan::Error("unknown subcommand '" + arg + "' (see `kvplan --help`)" + kvplan::did_you_mean(arg, names));
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Answered before any setup: CLI11 reports --version by throwing, and a static binary's first
  // exception indexes every unwind table (milliseconds; docs/startup.md).
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    std::fputs("kvplan " KVPLAN_VERSION "\n", stdout);
    return 0;
  }
  CLI::App app{"kvplan: KV-cache, memory, speed and cost planning for LLM inference"};
  app.name("kvplan");
  app.set_version_flag("--version", std::string("kvplan ") + KVPLAN_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  kvplan::cli::Globals globals;
  globals.argv.assign(argv, argv + argc);
  app.add_option("--data-dir", globals.data_dir, "Folder with models/ and presets/ that add or override bundled entries")
      ->type_name("DIR")
      ->envname("KVPLAN_DATA_DIR");
  // Every subcommand is listed (for --help and typo checks); only those the command line names get
  // their options, which is most of a query's start-up otherwise (docs/startup.md), unless a named
  // one reads every subcommand's options (`completion`).
  const auto named = [&](const kvplan::cli::Subcommand& s) {
    return std::find(argv + 1, argv + argc, std::string_view(s.name)) != argv + argc;
  };
  const bool every = std::any_of(std::begin(kvplan::cli::kSubcommands), std::end(kvplan::cli::kSubcommands),
                                 [&](const kvplan::cli::Subcommand& s) { return s.reads_every_subcommand && named(s); });
  for (const kvplan::cli::Subcommand& s : kvplan::cli::kSubcommands) {
    CLI::App* sub = app.add_subcommand(s.name, s.description);
    if (every || named(s)) s.setup(sub, globals);
  }
  try {
    check_spelling(app, argc, argv);
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "kvplan: error: {}\n", kvplan::printable(e.what()));
    return 2;
  } catch (const kvplan::Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "kvplan: error: {}\n", e.located());
    return e.exit_status();
  } catch (const std::exception& e) {
    fmt::print(stderr, "kvplan: internal error: {}\n", kvplan::printable(e.what()));
    return 70;
  }
  // Output that could not be written (a full disk, a closed pipe) is an error, never a silent 0.
  const bool written = std::fflush(stdout) == 0 && !std::ferror(stdout);
  for (const std::string& n : globals.notes) fmt::print(stderr, "kvplan: note: {}\n", n);
  if (!written) {
    fmt::print(stderr, "kvplan: error: cannot write to standard output\n");
    return 74;  // EX_IOERR
  }
  return globals.exit_status;
}
