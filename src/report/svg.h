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
  bool halo = false;             // a white outline under the glyphs: readable across lines
};

// The box a text occupies, in SVG pixels (y grows downwards), estimated without font metrics.
struct TextBox {
  double left = 0, top = 0, right = 0, bottom = 0;
  // True when the two boxes share more than a line of zero width (touching is not overlapping).
  bool overlaps(const TextBox& other) const;
};

// Estimated box of `text` drawn at (x, y) with `style`: width = characters (UTF-8 code points) x
// font size x 0.64 (0.70 bold); from 0.76 x size above the baseline to 0.24 x size below. The
// factors are DejaVu Sans's, the first font the SVG asks for (its hmtx table: digits advance 0.636 em,
// 0.696 em in bold, and typical labels 0.52-0.58 em; 'l' and 'b' rise 0.76 em, 'p' falls 0.24 em).
// Narrower fallbacks (Helvetica, Arial) fit inside. A rotated text's box is the bounding box of the
// rotated rectangle. Plots place labels with it and tests/plots_test.cpp checks them with it.
TextBox text_box(double x, double y, const std::string& text, const TextStyle& style);

class Svg {
 public:
  Svg(double width, double height);
  void rect(double x, double y, double w, double h, const std::string& fill, const Stroke* stroke = nullptr);
  void line(double x1, double y1, double x2, double y2, const Stroke& stroke);
  void polyline(const std::vector<std::pair<double, double>>& points, const Stroke& stroke);
  void circle(double x, double y, double r, const std::string& fill, const Stroke* stroke = nullptr);
  // A closed polygon (markers).
  void polygon(const std::vector<std::pair<double, double>>& points, const std::string& fill,
               const Stroke* stroke = nullptr);
  void text(double x, double y, const std::string& text, const TextStyle& style = {});
  // The estimated boxes of every text drawn so far, in drawing order.
  const std::vector<TextBox>& text_boxes() const { return text_boxes_; }
  // Enlarges the canvas so that every text box lies `margin` pixels inside it (never shrinks).
  void grow_to_fit_text(double margin);
  double width() const { return width_; }
  double height() const { return height_; }
  // The complete document.
  std::string str() const;

 private:
  double width_, height_;
  std::string body_;
  std::vector<TextBox> text_boxes_;
};

// A coordinate as the writer prints it: at most two decimals, no trailing zeros ("12.5", "3").
std::string svg_number(double v);
// Escapes text for SVG content and attributes.
std::string svg_escape(const std::string& text);

}  // namespace kvplan
