// index/bm25.hpp — Okapi BM25 ranking, in its multi-field form (BM25F).
//
// For a query term t and a document d with text fields f:
//
//   idf(t)  = ln(1 + (N - df + 0.5) / (df + 0.5))
//   tf~     = sum over f of  w_f * tf(t, f, d) / (1 - b + b * len(f, d) / avglen(f))
//   score   = idf(t) * tf~ * (k1 + 1) / (tf~ + k1)
//
// and a document's score is the sum over the query's distinct terms. N is
// the number of live documents, df the number of live documents holding t
// (in any text field), len(f, d) the number of tokens of field f in d and
// avglen(f) its mean over live documents; w_f is the field's weight.
//
// Why BM25F rather than a weighted sum of per-field BM25 scores: the fields
// are combined before the saturation, so a word repeated in the title and
// the body does not count twice as much as the same repetition in one
// field (Robertson, Zaragoza & Taylor, "Simple BM25 extension to multiple
// weighted fields", CIKM 2004). With one field and w = 1 it is exactly
// BM25. The idf is the non-negative variant Lucene uses, so very common
// terms never subtract from a score.
//
// Statistics are exact over live documents (deleted documents still in
// segments are not counted), so a ranking does not depend on how the index
// happens to be split into segments.
//
// Thread safety: pure functions.
#pragma once

#include <cmath>
#include <cstdint>

#include "../error.hpp"

namespace stowage {

struct bm25_params {
    double k1 = 1.2;
    double b = 0.75;

    void validate() const {
        if (!(k1 >= 0) || !std::isfinite(k1)) throw error(errc::bad_input, "bm25: k1 must be finite and >= 0");
        if (!(b >= 0 && b <= 1)) throw error(errc::bad_input, "bm25: b must be within [0, 1]");
    }
};

namespace fts {

inline double bm25_idf(std::uint64_t documents, std::uint64_t df) noexcept {
    double n = static_cast<double>(documents), d = static_cast<double>(df);
    return std::log(1.0 + (n - d + 0.5) / (d + 0.5));
}

// One field's contribution to tf~.
inline double bm25_field_tf(double weight, std::uint32_t tf, std::uint32_t length, double average, double b) noexcept {
    double norm = 1.0 - b + (average > 0 ? b * static_cast<double>(length) / average : 0.0);
    return weight * static_cast<double>(tf) / norm;
}

inline double bm25_saturate(double idf, double pseudo_tf, double k1) noexcept {
    return pseudo_tf > 0 ? idf * pseudo_tf * (k1 + 1.0) / (pseudo_tf + k1) : 0.0;
}

}  // namespace fts
}  // namespace stowage
