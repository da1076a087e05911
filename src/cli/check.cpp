// `kvplan check deploy.yaml...`: gate deployment files on their limits, for people and for CI.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/subcommands.h"
#include "io/deploy_yaml.h"
#include "io/files.h"
#include "io/lengths.h"
#include "report/check_report.h"

namespace kvplan::cli {

namespace {
struct CheckOptions {
  std::vector<std::string> files;
  std::string format = "table";
  std::string junit;
  bool explain = false;
};

// A registry lookup failure is reported at the key that named the model or GPU.
template <typename F>
auto at(const SourcePos& pos, F resolve) {
  try {
    return resolve();
  } catch (const Error& e) {
    throw Error(e.what(), e.pos().file.empty() ? pos : e.pos());
  }
}

// A file the deployment names by path (model, gpu, a draft model, a trace): an error about that file as a
// whole (missing, unreadable, a directory) is reported at the key, naming the path as written and,
// when it differs, as resolved against the deployment file's folder; an error at a line inside the
// named file stays there.
template <typename F>
auto at_reference(const SourcePos& pos, const std::string& key, const std::string& written, F resolve) {
  try {
    return resolve();
  } catch (const Error& e) {
    if (e.pos().file.empty()) throw Error(e.what(), pos);
    if (e.pos().line > 0) throw;
    const std::string resolved = e.pos().file == written ? "" : " (" + e.pos().file + ")";
    throw Error(key + " '" + written + "'" + resolved + ": " + e.what(), pos);
  }
}

CheckedFile check_file(const Registry& registry, const std::string& path) {
  CheckedFile out{path, path, std::nullopt, "", {}, {}};
  try {
    const DeployFile d = parse_deploy_file(read_text_file(path), path);
    out.name = d.name;
    Model model = at_reference(d.model_pos, "model", d.model,
                               [&] { return registry.resolve_model(relative_to_file(d.model, path)); });
    if (d.hf_overrides) model = at(d.hf_overrides_pos, [&] { return with_overrides(model, d.hf_overrides->config); });
    const Gpu gpu =
        at_reference(d.gpu_pos, "gpu", d.gpu, [&] { return registry.resolve_gpu(relative_to_file(d.gpu, path)); });
    DeploySpec spec = d.spec;
    DeployWorkload& w = spec.workload;
    if (!w.prompt_dist.empty() || !w.gen_dist.empty()) {  // a trace's path is relative to the file
      auto resolve = [&](const std::string& t) { return t.empty() || is_length_spec(t) ? t : path_relative_to_file(t, path); };
      LengthSpecs s;
      s.prompt = resolve(w.prompt_dist);
      s.output = resolve(w.gen_dist);
      s.prompt_flag = "workload.prompt_dist";
      s.output_flag = "workload.gen_dist";
      s.prompt_fixed = w.prompt_tokens;
      s.output_fixed = w.output_tokens;
      s.prompt_fallback = "workload.prompt_tokens";
      s.output_fallback = "workload.output_tokens";
      w.lengths = at(spec.pos(w.prompt_dist.empty() ? "workload.gen_dist" : "workload.prompt_dist"),
                     [&] { return std::make_shared<const LengthDist>(length_dist(s, read_text_file)); });
    }
    if (!w.trace.empty())
      w.arrival_trace = at_reference(spec.pos("workload.trace"), "workload.trace", w.trace, [&] {
        const std::string file = path_relative_to_file(w.trace, path);
        return std::make_shared<const LengthDist>(parse_arrival_trace(read_text_file(file), file));
      });
    spec.engine.settings.profile = at(d.engine_pos, [&] { return registry.resolve_engine(d.engine); });
    const EngineProfile& profile = spec.engine.settings.profile;
    if (profile.kind != EngineKind::ideal) {
      out.notes = check_engine_arguments(d, profile);
      at(d.kv_cache_dtype_pos, [&] { return engine_kv_cache_dtype(profile, spec.engine.kv_cache_dtype); });
      if (const auto it = spec.key_pos.find("engine.VLLM_USE_V2_MODEL_RUNNER"); it != spec.key_pos.end())
        at(it->second, [&] {
          check_model_runner(profile, spec.engine.settings.v2_model_runner);
          return 0;
        });
      if (!d.engine_version_pinned)
        out.warnings.push_back(path + ": engine version not pinned: " + name(profile.kind) + " " + profile.version +
                            " (the default profile) sizes this deployment; pin it with engine.version");
    } else if (!d.engine_arguments.empty()) {
      // A misspelt key kvplan reads for every engine is reported as one, with the keys it knows.
      const auto& [key, pos] = d.engine_arguments.front();
      std::vector<std::string> known = {"name", "version"};
      for (const DeployKeyDoc& k : deploy_key_docs())
        if (k.section == "engine") known.push_back(k.key);
      const std::string suggestion = did_you_mean(key, known);
      if (!suggestion.empty()) throw Error("unknown key '" + key + "' in section 'engine'" + suggestion, pos);
      throw Error("engine '" + key + "' is an engine argument: engine ideal has none", pos);
    }
    if (profile.kind == EngineKind::ideal) out.notes = ideal_engine_notes(d);
    for (const std::string& note : hf_overrides_notes(d)) out.notes.push_back(note);
    // The drafter: under an engine it shares the KV pool, under ideal kvplan's own memory plan.
    if (d.speculative) {
      SpeculativeConfig c = *d.speculative;
      if (!c.model.empty()) c.model = relative_to_file(c.model, path);
      set_speculative(spec.engine.settings, c);
      spec.engine.settings.draft = at_reference(d.speculative_pos, d.speculative_model_key, d.speculative->model,
                                                [&] { return drafter_of(c, model, registry); });
      at(d.speculative_pos, [&] {
        resolve_speculative_shape(spec.engine.settings, model);
        return 0;
      });
    }
    if (spec.workload.acceptance && !d.speculative) {
      const std::string key = spec.workload.acceptance->kind == AcceptanceKind::rate ? "workload.acceptance_rate"
                                                                                     : "workload.acceptance_length";
      throw Error(key + " describes speculative decoding: it needs " +
                      (profile.kind == EngineKind::sglang ? "engine.speculative_algorithm" : "engine.speculative_config"),
                  spec.pos(key));
    }
    out.result = at(SourcePos{path, 0, 0}, [&] { return check_deployment(model, gpu, spec); });
  } catch (const Error& e) {
    // A file with bad input is not evaluated: its error alone, in text and JSON (the notes and
    // warnings follow once it reads).
    out.error = e.located();
    out.notes.clear();
    out.warnings.clear();
  }
  return out;
}
}  // namespace

void setup_check(CLI::App* sub, Globals& globals) {
  auto o = std::make_shared<CheckOptions>();
  sub->add_option("files", o->files, "Deployment YAML files (see `kvplan check --explain`)")->type_name("FILE");
  add_format_option(sub, o->format, {"table", "json"});
  sub->add_option("--junit", o->junit, "Also write a JUnit XML report to this path")->type_name("FILE");
  sub->add_flag("--explain", o->explain, "Print every deployment-file key with its meaning, and exit");
  sub->callback([o, &globals] {
    if (o->explain) {
      print(render_deploy_explain(deploy_section_docs(), deploy_key_docs()));
      return;
    }
    if (o->files.empty()) throw Error("check needs at least one deployment file (see `kvplan check --explain`)");
    if (!o->junit.empty()) {
      check_output_path(o->junit, "--junit");
      std::error_code ec;
      for (const std::string& f : o->files)
        if (std::filesystem::weakly_canonical(f, ec) == std::filesystem::weakly_canonical(o->junit, ec))
          throw Error("--junit: will not overwrite a deployment file being checked; write the report elsewhere",
                      {o->junit, 0, 0});
    }
    const Registry registry = globals.registry();
    std::vector<CheckedFile> results;
    for (const std::string& path : o->files) results.push_back(check_file(registry, path));
    for (const CheckedFile& f : results) {
      if (!f.result) fmt::print(stderr, "kvplan: error: {}\n", printable(f.error));
      for (const std::string& n : f.notes) fmt::print(stderr, "kvplan: note: {}\n", n);
      for (const std::string& w : f.warnings) fmt::print(stderr, "kvplan: warning: {}\n", w);
    }
    if (o->format == "json") print(json_text(check_to_json(results)));
    else print(render_check_text(results));
    if (!o->junit.empty()) write_text_file(o->junit, render_junit(results));
    globals.exit_status = exit_status(results);
  });
}

}  // namespace kvplan::cli
