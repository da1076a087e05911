#include "report/svg.h"

#include <fmt/format.h>

#include <cmath>

namespace kvplan {

std::string svg_number(double v) {
  if (!std::isfinite(v)) v = 0;
  std::string s = fmt::format("{:.2f}", v);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

std::string svg_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {
std::string stroke_attrs(const Stroke& s) {
  std::string out = fmt::format(" stroke=\"{}\" stroke-width=\"{}\"", s.color, svg_number(s.width));
  if (!s.dash.empty()) out += fmt::format(" stroke-dasharray=\"{}\"", s.dash);
  return out;
}
}  // namespace

Svg::Svg(double width, double height) : width_(width), height_(height) {}

void Svg::rect(double x, double y, double w, double h, const std::string& fill, const Stroke* stroke) {
  body_ += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"{}/>\n", svg_number(x),
                       svg_number(y), svg_number(w), svg_number(h), fill, stroke ? stroke_attrs(*stroke) : "");
}

void Svg::line(double x1, double y1, double x2, double y2, const Stroke& stroke) {
  body_ += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"{}/>\n", svg_number(x1), svg_number(y1),
                       svg_number(x2), svg_number(y2), stroke_attrs(stroke));
}

void Svg::polyline(const std::vector<std::pair<double, double>>& points, const Stroke& stroke) {
  std::string pts;
  for (const auto& [x, y] : points) pts += (pts.empty() ? "" : " ") + svg_number(x) + "," + svg_number(y);
  body_ += fmt::format("<polyline points=\"{}\" fill=\"none\"{} stroke-linejoin=\"round\"/>\n", pts, stroke_attrs(stroke));
}

void Svg::circle(double x, double y, double r, const std::string& fill, const Stroke* stroke) {
  body_ += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"{}/>\n", svg_number(x), svg_number(y),
                       svg_number(r), fill, stroke ? stroke_attrs(*stroke) : "");
}

void Svg::text(double x, double y, const std::string& text, const TextStyle& s) {
  std::string transform;
  if (s.rotate != 0)
    transform = fmt::format(" transform=\"rotate({} {} {})\"", svg_number(s.rotate), svg_number(x), svg_number(y));
  body_ += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"{}\" fill=\"{}\"{}{}>{}</text>\n",
                       svg_number(x), svg_number(y), svg_number(s.size), s.anchor, s.color,
                       s.bold ? " font-weight=\"bold\"" : "", transform, svg_escape(text));
}

std::string Svg::str() const {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"#fff\"/>\n{2}</svg>\n",
      svg_number(width_), svg_number(height_), body_);
}

}  // namespace kvplan
