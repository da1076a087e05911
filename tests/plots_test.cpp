// The plots' styles and label layout: every series drawn in a style of its own, and no two texts of
// any plot kind overlapping (boxes estimated by text_box, as the layout code estimates them) with
// 1, 5, 12 and 24 series; every series named by a direct label or in the legend.
#include <catch2/catch.hpp>

#include <regex>
#include <set>
#include <tuple>

#include "io/registry.h"
#include "report/plots.h"
#include "report/svg.h"

using namespace kvplan;

namespace {

struct SvgText {
  std::string text;
  TextBox box;
};

struct ParsedSvg {
  double width = 0, height = 0;
  std::vector<SvgText> texts;
};

std::string unescape(std::string s) {
  using Entity = std::pair<std::string, std::string>;
  for (const auto& [from, to] : {Entity{"&lt;", "<"}, Entity{"&gt;", ">"}, Entity{"&quot;", "\""}, Entity{"&amp;", "&"}})
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
      s.replace(at, from.size(), to);
  return s;
}

// Every <text> of the SVG writer's output with its estimated box, and the canvas size.
ParsedSvg parse(const std::string& svg) {
  ParsedSvg out;
  std::smatch m;
  REQUIRE(std::regex_search(svg, m, std::regex(R"re(<svg [^>]*width="([0-9.]+)" height="([0-9.]+)")re")));
  out.width = std::stod(m[1]);
  out.height = std::stod(m[2]);
  // What Svg::text prints: position, size, anchor, colour, then bold, rotation and halo when set.
  const std::regex text(
      R"re(<text x="([-0-9.]+)" y="([-0-9.]+)" font-size="([0-9.]+)" text-anchor="(\w+)" fill="[^"]*"( font-weight="bold")?(?: transform="rotate\(([-0-9.]+) [-0-9.]+ [-0-9.]+\)")?(?: stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke")?>([^<]*)</text>)re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), text); it != std::sregex_iterator(); ++it) {
    const std::smatch& t = *it;
    TextStyle style;
    style.size = std::stod(t[3]);
    style.anchor = t[4];
    style.bold = t[5].matched;
    style.rotate = t[6].matched ? std::stod(t[6]) : 0;
    const std::string content = unescape(t[7]);
    out.texts.push_back({content, text_box(std::stod(t[1]), std::stod(t[2]), content, style)});
  }
  // Every <text> the writer printed was parsed.
  size_t n = 0;
  for (size_t at = svg.find("<text "); at != std::string::npos; at = svg.find("<text ", at + 1)) ++n;
  REQUIRE(out.texts.size() == n);
  return out;
}

// No two texts overlap and each lies inside the canvas.
void check_layout(const ParsedSvg& svg) {
  for (size_t i = 0; i < svg.texts.size(); ++i) {
    const TextBox& b = svg.texts[i].box;
    INFO("text '" << svg.texts[i].text << "' at [" << b.left << ", " << b.top << ", " << b.right << ", " << b.bottom
                  << "] in a " << svg.width << " x " << svg.height << " canvas");
    CHECK(b.left >= 0);
    CHECK(b.top >= 0);
    CHECK(b.right <= svg.width);
    CHECK(b.bottom <= svg.height);
    for (size_t j = i + 1; j < svg.texts.size(); ++j) {
      INFO("overlaps '" << svg.texts[j].text << "'");
      CHECK_FALSE(b.overlaps(svg.texts[j].box));
    }
  }
}

// `label` is a text of its own, or one followed by " (" and the series' marks (throughput).
bool names(const ParsedSvg& svg, const std::string& label) {
  for (const SvgText& t : svg.texts)
    if (t.text == label || t.text.rfind(label + " (", 0) == 0) return true;
  return false;
}

size_t count_texts_containing(const ParsedSvg& svg, const std::string& what) {
  size_t n = 0;
  for (const SvgText& t : svg.texts) n += t.text.find(what) != std::string::npos;
  return n;
}

const Registry& registry() {
  static const Registry r = Registry::load("");
  return r;
}

SweepCase make_case(const std::string& model_id, const std::string& gpu_id) {
  const Model m = registry().resolve_model(model_id);
  MemoryOptions o;
  o.weights = weight_dtypes(m);
  o.cache.kv_dtype = DType::bf16;  // one KV dtype: the labels are "model on GPU"
  o.cache.state_dtype = DType::bf16;
  return {m, registry().resolve_gpu(gpu_id), o};
}

const std::vector<std::string> kModels = {"llama-3.1-8b", "mistral-7b-v0.1", "gemma-2-9b",   "qwen2.5-7b",
                                          "mixtral-8x7b", "jamba-v0.1",      "mamba2-2.7b",  "deepseek-v3",
                                          "llama-3.1-70b", "phi-4",          "qwen3-8b",     "falcon-7b"};
const std::vector<std::string> kGpus = {"h100-sxm", "a100-40gb", "mi300x"};

// The first n (model, GPU) cases, models outermost, and the series labels plot_sweep gives them.
std::pair<std::vector<SweepCase>, std::vector<std::string>> first_cases(size_t n) {
  std::vector<SweepCase> cases;
  std::vector<std::string> labels;
  for (const std::string& model : kModels)
    for (const std::string& gpu : kGpus)
      if (cases.size() < n) {
        cases.push_back(make_case(model, gpu));
        labels.push_back(n > 1 ? model + " on " + gpu : model);
      }
  REQUIRE(cases.size() == n);
  return {cases, labels};
}

}  // namespace

TEST_CASE("plots: the first 24 series styles differ in (colour, dash, marker)", "[svg][plots]") {
  std::set<std::tuple<std::string, std::string, Marker>> seen;
  std::set<std::string> colors;
  for (size_t i = 0; i < kMaxPlotSeries; ++i) {
    const SeriesStyle s = series_style(i);
    CHECK(seen.insert({s.color, s.dash, s.marker}).second);
    colors.insert(s.color);
    CHECK(series_style(i).color == s.color);  // a pure function of i
  }
  CHECK(seen.size() == 24);
  CHECK(colors.size() == 8);
  // The three series of one colour differ in dash and marker both.
  for (size_t c = 0; c < 8; ++c) {
    const SeriesStyle a = series_style(c), b = series_style(c + 8), d = series_style(c + 16);
    CHECK(b.color == a.color);
    CHECK(d.color == a.color);
    CHECK(std::set<std::string>{a.dash, b.dash, d.dash}.size() == 3);
    CHECK(std::set<Marker>{a.marker, b.marker, d.marker}.size() == 3);
  }
}

TEST_CASE("plots: text boxes", "[svg][plots]") {
  const TextBox b = text_box(100, 50, "abcd", {10, "start"});
  CHECK(b.left == 100);
  CHECK(b.right == Approx(100 + 4 * 10 * 0.64));
  CHECK(b.top == Approx(50 - 7.6));
  CHECK(b.bottom == Approx(50 + 2.4));
  CHECK(text_box(100, 50, "abcd", {10, "end"}).right == 100);
  CHECK(text_box(100, 50, "abcd", {10, "middle"}).left == Approx(100 - 12.8));
  CHECK(text_box(0, 0, "ab", {10, "start", "#000", true}).right == Approx(14));
  CHECK(text_box(0, 0, "≤≤", {10}).right == Approx(12.8));  // code points, not bytes
  // Turned -90 degrees about its anchor, a middle-anchored text runs up the page.
  const TextBox up = text_box(24, 200, "abcdefghij", {10, "middle", "#000", false, -90});
  CHECK(up.left == Approx(24 - 7.6));
  CHECK(up.right == Approx(24 + 2.4));
  CHECK(up.top == Approx(200 - 32));
  CHECK(up.bottom == Approx(200 + 32));
  CHECK_FALSE(TextBox{0, 0, 10, 10}.overlaps({10, 0, 20, 10}));  // touching
  CHECK(TextBox{0, 0, 10, 10}.overlaps({9, 9, 20, 20}));
}

TEST_CASE("plots: with 1, 5, 12 and 24 series no two texts overlap and every series is named", "[svg][plots]") {
  const auto n = GENERATE(as<size_t>{}, 1, 5, 12, 24);
  const auto [cases, labels] = first_cases(n);
  const std::string kind = GENERATE(as<std::string>{}, "memory-vs-context", "throughput", "breakdown");
  SweepAxes axes;
  if (kind == "memory-vs-context") axes = {{1024, 4096, 16384, 65536, 262144, 1048576}, {1}, 0, 0};
  if (kind == "throughput") axes = {{4096}, {1, 4, 16, 64, 256, 1024, 4096}, 0, 0};
  if (kind == "breakdown") axes = {{8192}, {32}, 0, 0};
  INFO(kind << " with " << n << " series");
  const ParsedSvg svg = parse(plot_sweep(cases, axes, kind));
  check_layout(svg);
  for (const std::string& label : labels) {
    INFO("series " << label);
    CHECK(names(svg, kind == "breakdown" ? label + ": 32 x 8k" : label));
  }
  if (kind == "memory-vs-context") {
    // One label per capacity line, however many series share the GPU.
    CHECK(count_texts_containing(svg, "capacity") == std::min<size_t>(n, kGpus.size()));
  }
}

TEST_CASE("plots: GPUs of one capacity share one labelled line", "[svg][plots]") {
  const std::vector<SweepCase> cases = {make_case("llama-3.1-8b", "h100-sxm"), make_case("llama-3.1-8b", "a100-80gb"),
                                        make_case("qwen3-8b", "h100-sxm"), make_case("qwen3-8b", "a100-80gb")};
  const ParsedSvg svg = parse(plot_sweep(cases, {{1024, 8192, 65536}, {1}, 0, 0}, "memory-vs-context"));
  check_layout(svg);
  CHECK(count_texts_containing(svg, "capacity") == 1);
  CHECK(names(svg, "NVIDIA H100 SXM5 80GB, NVIDIA A100 SXM4 80GB capacity 80 GiB"));
}

TEST_CASE("plots: labels of close capacity lines stay apart", "[svg][plots]") {
  // 80, 94, 96, 140, 179, 192 and 256 GiB: the first three lie a few pixels apart on the log axis.
  std::vector<SweepCase> cases;
  for (const char* gpu : {"h100-sxm", "h100-nvl", "gh200", "h200", "b200", "mi300x", "mi325x"})
    cases.push_back(make_case("llama-3.1-8b", gpu));
  const ParsedSvg svg = parse(plot_sweep(cases, {{1024, 16384, 262144, 1048576}, {1}, 0, 0}, "memory-vs-context"));
  check_layout(svg);
  CHECK(count_texts_containing(svg, "capacity") == 7);
  CHECK(names(svg, "NVIDIA H100 NVL 94GB capacity 94 GiB"));
}

TEST_CASE("plots: series past the cap are left out and counted", "[svg][plots]") {
  std::vector<SweepCase> cases;
  for (const std::string& model : kModels)
    for (const std::string& gpu : kGpus) cases.push_back(make_case(model, gpu));
  REQUIRE(cases.size() == 36);
  const ParsedSvg lines = parse(plot_sweep(cases, {{1024, 65536}, {1}, 0, 0}, "memory-vs-context"));
  check_layout(lines);
  CHECK(names(lines, "12 more series not drawn: a plot shows the first 24, in sweep order"));
  CHECK_FALSE(names(lines, "falcon-7b on h100-sxm"));
  const ParsedSvg bars = parse(plot_sweep(cases, {{8192}, {32}, 0, 0}, "breakdown"));
  check_layout(bars);
  CHECK(names(bars, "12 more bars not drawn: a plot shows the first 24, in sweep order"));
}

TEST_CASE("plots: one estimate's breakdown lays out its texts apart", "[svg][plots]") {
  const SweepCase c = make_case("llama-3.1-8b", "h100-sxm");
  check_layout(parse(plot_estimate(estimate(c.model, c.gpu, Workload{16, 32768, 0, 0}, c.options))));
}

TEST_CASE("plots: a simulation's queue, waiting and running over time", "[svg][plots]") {
  // Four points over 4.5 s, at most 10 requests: the y axis runs to max(5, 10 x 1.08) = 10.8.
  const std::vector<QueuePoint> queue{{0, 0, 1}, {1.5, 3, 8}, {3.0, 10, 8}, {4.5, 2, 5}};
  const std::string text = plot_queue(queue, "a hand-made queue");
  const ParsedSvg svg = parse(text);
  check_layout(svg);
  CHECK(names(svg, "waiting"));
  CHECK(names(svg, "running"));
  CHECK(names(svg, "a hand-made queue"));
  // The plot area spans x 100..690 for 0..4.5 s and y 470..60 for 0..10.8 requests. Waiting at 3.0 s
  // (10 requests): x = 100 + 3 / 4.5 x 590 = 493.33, y = 470 - 10 / 10.8 x 410 = 90.37; running at
  // 1.5 s (8): x = 100 + 1.5 / 4.5 x 590 = 296.67, y = 470 - 8 / 10.8 x 410 = 166.3; running at 0 s (1):
  // y = 470 - 1 / 10.8 x 410 = 432.04.
  CHECK(text.find("<polyline points=\"100,470 296.67,356.11 493.33,90.37 690,394.07\"") != std::string::npos);
  CHECK(text.find("100,432.04 296.67,166.3 493.33,166.3 690,280.19\"") != std::string::npos);
}
