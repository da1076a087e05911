#include "report/svg.h"

#include <fmt/format.h>

#include <algorithm>
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

bool TextBox::overlaps(const TextBox& o) const {
  return left < o.right && o.left < right && top < o.bottom && o.top < bottom;
}

TextBox text_box(double x, double y, const std::string& text, const TextStyle& style) {
  // UTF-8 code points: every byte that does not continue a sequence (10xxxxxx) starts one.
  const auto chars = static_cast<double>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  const double width = chars * style.size * (style.bold ? 0.70 : 0.64);
  const double left = style.anchor == "middle" ? -width / 2 : style.anchor == "end" ? -width : 0;
  const double top = -0.76 * style.size, bottom = 0.24 * style.size;
  if (style.rotate == 0) return {x + left, y + top, x + left + width, y + bottom};
  // The four corners turned about the anchor point, as SVG's rotate() turns them (clockwise on screen).
  const double a = style.rotate * std::acos(-1.0) / 180, c = std::cos(a), s = std::sin(a);
  TextBox box{INFINITY, INFINITY, -INFINITY, -INFINITY};
  for (const double dx : {left, left + width})
    for (const double dy : {top, bottom}) {
      const double px = x + dx * c - dy * s, py = y + dx * s + dy * c;
      box = {std::min(box.left, px), std::min(box.top, py), std::max(box.right, px), std::max(box.bottom, py)};
    }
  return box;
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

void Svg::polygon(const std::vector<std::pair<double, double>>& points, const std::string& fill, const Stroke* stroke) {
  std::string pts;
  for (const auto& [x, y] : points) pts += (pts.empty() ? "" : " ") + svg_number(x) + "," + svg_number(y);
  body_ += fmt::format("<polygon points=\"{}\" fill=\"{}\"{}/>\n", pts, fill, stroke ? stroke_attrs(*stroke) : "");
}

void Svg::grow_to_fit_text(double margin) {
  for (const TextBox& b : text_boxes_) {
    width_ = std::max(width_, std::ceil(b.right + margin));
    height_ = std::max(height_, std::ceil(b.bottom + margin));
  }
}

void Svg::text(double x, double y, const std::string& text, const TextStyle& s) {
  text_boxes_.push_back(text_box(x, y, text, s));
  std::string transform;
  if (s.rotate != 0)
    transform = fmt::format(" transform=\"rotate({} {} {})\"", svg_number(s.rotate), svg_number(x), svg_number(y));
  const char* halo = s.halo ? " stroke=\"#fff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\"" : "";
  body_ += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"{}\" fill=\"{}\"{}{}{}>{}</text>\n",
                       svg_number(x), svg_number(y), svg_number(s.size), s.anchor, s.color,
                       s.bold ? " font-weight=\"bold\"" : "", transform, halo, svg_escape(text));
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
