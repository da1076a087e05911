#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "io/registry.h"
#include "report/plots.h"
#include "report/svg.h"

using namespace kvplan;

namespace {
size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

SweepCase make_case(const std::string& model_id) {
  static const Registry r = Registry::load("");
  const Model m = r.resolve_model(model_id);
  MemoryOptions o;
  o.weights = weight_dtypes(m);
  o.cache.kv_dtype = m.dtype;
  o.cache.state_dtype = m.dtype;
  return {m, r.resolve_gpu("h100-sxm"), o};
}

// Renders with rsvg-convert (Debian librsvg2-bin) when it is installed: it rejects malformed SVG.
void check_renders(const std::string& svg, const std::string& name) {
  if (std::system("command -v rsvg-convert > /dev/null 2>&1") != 0) {
    WARN("rsvg-convert not installed: " << name << " not rendered");
    return;
  }
  const std::string in = "kvplan_svg_test_" + name + ".svg", out = "kvplan_svg_test_" + name + ".png";
  std::ofstream(in) << svg;
  CHECK(std::system(("rsvg-convert -o " + out + " " + in).c_str()) == 0);
  std::ifstream png(out, std::ios::binary);
  char magic[4] = {};
  png.read(magic, 4);
  CHECK(std::string(magic + 1, 3) == "PNG");
  std::remove(in.c_str());
  std::remove(out.c_str());
}
}  // namespace

TEST_CASE("svg: numbers have at most two decimals and no trailing zeros", "[svg]") {
  CHECK(svg_number(12.5) == "12.5");
  CHECK(svg_number(3.0) == "3");
  CHECK(svg_number(1.23456) == "1.23");
  CHECK(svg_number(-0.001) == "0");
  CHECK(svg_number(100) == "100");
}

TEST_CASE("svg: elements and escaping", "[svg]") {
  Svg svg(100, 50);
  svg.line(0, 0, 10.5, 20, {"#f00", 2, "4 2"});
  svg.text(5, 6, "a < b & \"c\"", {10, "middle"});
  const std::string s = svg.str();
  CHECK(s.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100\" height=\"50\"", 0) == 0);
  CHECK(s.find("<line x1=\"0\" y1=\"0\" x2=\"10.5\" y2=\"20\" stroke=\"#f00\" stroke-width=\"2\" stroke-dasharray=\"4 2\"/>") != std::string::npos);
  CHECK(s.find(">a &lt; b &amp; &quot;c&quot;</text>") != std::string::npos);
  CHECK(s.substr(s.size() - 7) == "</svg>\n");
}

TEST_CASE("plots: estimate breakdown has labelled axes, legend, verdict", "[svg]") {
  const SweepCase c = make_case("llama-3.1-8b");
  const Estimate fits = estimate(c.model, c.gpu, Workload{8, 8192, 0, 0}, c.options);
  const std::string svg = plot_estimate(fits);
  for (const char* text : {"Memory per GPU", "GiB per GPU", "weights", "KV cache", "activations", "GPU capacity", "fits:"})
    CHECK(svg.find(text) != std::string::npos);
  CHECK(plot_estimate(fits) == svg);  // deterministic
  const Estimate over = estimate(c.model, c.gpu, Workload{64, 131072, 0, 0}, c.options);
  CHECK(plot_estimate(over).find("does NOT fit") != std::string::npos);
  check_renders(svg, "breakdown");
}

TEST_CASE("plots: a sweep over contexts draws one line per model and the capacity", "[svg]") {
  const std::vector<SweepCase> cases = {make_case("llama-3.1-8b"), make_case("mamba2-2.7b")};
  const SweepAxes axes{{1024, 4096, 16384, 65536}, {1}, 0, 0};
  const std::string svg = plot_sweep(cases, axes, "auto");
  CHECK(count(svg, "<polyline") == 2);
  CHECK(svg.find("context (tokens per sequence, log scale)") != std::string::npos);
  CHECK(svg.find("KV cache + SSM state (GiB, log scale)") != std::string::npos);
  CHECK(svg.find("capacity 80 GiB") != std::string::npos);
  CHECK(svg.find(">llama-3.1-8b</text>") != std::string::npos);
  CHECK(svg.find(">16k</text>") != std::string::npos);
  check_renders(svg, "context");
}

TEST_CASE("plots: a sweep over batches draws decode throughput", "[svg]") {
  const SweepAxes axes{{256}, {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}, 0, 0};
  const std::string svg = plot_sweep({make_case("llama-3.1-8b")}, axes, "auto");
  CHECK(svg.find("Decode throughput vs batch") != std::string::npos);
  CHECK(svg.find("decode tokens/s per replica (log scale)") != std::string::npos);
  CHECK(svg.find("compute-bound from") != std::string::npos);
  check_renders(svg, "throughput");
  CHECK(plot_sweep({make_case("llama-3.1-8b")}, axes, "breakdown").find("Memory per GPU") != std::string::npos);
}

TEST_CASE("plots: token labels", "[svg]") {
  CHECK(token_label(1024) == "1k");
  CHECK(token_label(1048576) == "1M");
  CHECK(token_label(1536) == "1536");
  CHECK(token_label(64) == "64");
}
