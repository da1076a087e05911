// A minimal SVG writer: the few elements kvplan's plots need, numbers printed with fixed precision
// so that the same input gives byte-identical files (docs/plots.md says why not a plotting library).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kvplan {

struct Stroke {
  std::string color = "#000";
  double width = 1;
  std::string dash;  // SVG stroke-dasharray, "" = solid
};

struct TextStyle {
  double size = 12;
  std::string anchor = "start";  // start, middle, end
  std::string color = "#222";
  bool bold = false;
  double rotate = 0;             // degrees, about the anchor point
};

class Svg {
 public:
  Svg(double width, double height);
  void rect(double x, double y, double w, double h, const std::string& fill, const Stroke* stroke = nullptr);
  void line(double x1, double y1, double x2, double y2, const Stroke& stroke);
  void polyline(const std::vector<std::pair<double, double>>& points, const Stroke& stroke);
  void circle(double x, double y, double r, const std::string& fill, const Stroke* stroke = nullptr);
  void text(double x, double y, const std::string& text, const TextStyle& style = {});
  // The complete document.
  std::string str() const;

 private:
  double width_, height_;
  std::string body_;
};

// A coordinate as the writer prints it: at most two decimals, no trailing zeros ("12.5", "3").
std::string svg_number(double v);
// Escapes text for SVG content and attributes.
std::string svg_escape(const std::string& text);

}  // namespace kvplan
