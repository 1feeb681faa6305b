// index/text_query.hpp — what a search asks an inverted index: words,
// prefixes, exact field values and time ranges combined with AND, OR, NOT.
//
//   using q = stowage::text_query;
//   auto query = q::words("http client")                 // both words, any text field
//             && q::prefix("auth")                        // a word starting "auth"
//             && q::keyword("status", "done")             // exact value of a keyword field
//             && q::range("start_time", from, to)         // inclusive
//             && !q::keyword("tag", "draft");
//   q::any_words("redis memcached");                      // either word
//   q::words("parser", "name");                           // only in the text field "name"
//
// Words are tokenized by the index's tokenizer when the query runs, so a
// query reads like what a user typed ("PDF Parser", "json-schema"). A words
// query whose text has no tokens (only stop words, "c++" under the ASCII
// tokenizer) matches nothing. Prefixes are folded by the same tokenizer but
// keep short words and stop words ("th" still finds "thread").
//
// Ranking (inverted_index top()) scores the words of every non-negated
// words() node with BM25; prefix, keyword and range nodes filter only.
//
// Thread safety: a plain value.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace stowage {

class text_query {
public:
    enum class kind { everything, nothing, words, prefix, keyword, range, all_of, any_of, negation };
    enum class mode { all, any };

    // Matches every document / no document.
    static text_query everything() { return text_query(kind::everything); }
    static text_query nothing() { return text_query(kind::nothing); }

    // Documents holding every (mode::all) or some (mode::any) token of text,
    // in any text field, or only in `field` when given.
    static text_query words(std::string text, std::string field = {}) {
        return words(std::move(text), mode::all, std::move(field));
    }
    static text_query any_words(std::string text, std::string field = {}) {
        return words(std::move(text), mode::any, std::move(field));
    }
    static text_query words(std::string text, mode m, std::string field = {}) {
        text_query q(kind::words);
        q.text_ = std::move(text);
        q.mode_ = m;
        q.field_ = std::move(field);
        return q;
    }

    // Documents with a token starting with (each token of) text.
    static text_query prefix(std::string text, std::string field = {}) {
        text_query q(kind::prefix);
        q.text_ = std::move(text);
        q.field_ = std::move(field);
        return q;
    }

    // Documents whose keyword field holds exactly value (one of its values).
    static text_query keyword(std::string field, std::string value) {
        text_query q(kind::keyword);
        q.field_ = std::move(field);
        q.text_ = std::move(value);
        return q;
    }
    static text_query keyword_in(std::string field, std::vector<std::string> values) {
        std::vector<text_query> alts;
        for (auto& v : values) alts.push_back(keyword(field, std::move(v)));
        return any_of(std::move(alts));
    }

    // Documents whose time field lies in [from, to].
    static text_query range(std::string field, std::int64_t from, std::int64_t to) {
        text_query q(kind::range);
        q.field_ = std::move(field);
        q.from_ = from;
        q.to_ = to;
        return q;
    }

    static text_query all_of(std::vector<text_query> qs) { return combine(kind::all_of, std::move(qs)); }
    static text_query any_of(std::vector<text_query> qs) { return combine(kind::any_of, std::move(qs)); }

    friend text_query operator&&(text_query a, text_query b) { return combine(kind::all_of, {std::move(a), std::move(b)}); }
    friend text_query operator||(text_query a, text_query b) { return combine(kind::any_of, {std::move(a), std::move(b)}); }
    friend text_query operator!(text_query a) {
        if (a.kind_ == kind::negation) return std::move(a.children_.front());
        text_query q(kind::negation);
        q.children_.push_back(std::move(a));
        return q;
    }

    kind type() const noexcept { return kind_; }
    mode match() const noexcept { return mode_; }
    const std::string& text() const noexcept { return text_; }   // words, prefix; keyword: the value
    const std::string& field() const noexcept { return field_; }
    std::int64_t from() const noexcept { return from_; }
    std::int64_t to() const noexcept { return to_; }
    const std::vector<text_query>& children() const noexcept { return children_; }

    // A readable form, for explain output and test messages.
    std::string to_string() const {
        auto quoted = [](const std::string& s) { return "\"" + s + "\""; };
        auto in = [&](std::string s) { return field_.empty() ? s : field_ + ":" + s; };
        switch (kind_) {
            case kind::everything: return "*";
            case kind::nothing: return "-*";
            case kind::words: return in((mode_ == mode::all ? "all" : "any") + quoted(text_));
            case kind::prefix: return in(quoted(text_) + "*");
            case kind::keyword: return field_ + "=" + quoted(text_);
            case kind::range: return field_ + " in [" + std::to_string(from_) + ", " + std::to_string(to_) + "]";
            case kind::negation: return "NOT " + children_.front().to_string();
            case kind::all_of:
            case kind::any_of: {
                std::string s = "(";
                for (std::size_t i = 0; i < children_.size(); ++i) {
                    if (i) s += kind_ == kind::all_of ? " AND " : " OR ";
                    s += children_[i].to_string();
                }
                return s + ")";
            }
        }
        return "?";
    }

private:
    explicit text_query(kind k) : kind_(k) {}

    // Flattens nested nodes of the same kind: (a AND b) AND c is one node.
    static text_query combine(kind k, std::vector<text_query> qs) {
        text_query q(k);
        for (auto& c : qs) {
            if (c.kind_ == k) {
                for (auto& g : c.children_) q.children_.push_back(std::move(g));
            } else {
                q.children_.push_back(std::move(c));
            }
        }
        return q;
    }

    kind kind_;
    mode mode_ = mode::all;
    std::string text_;
    std::string field_;
    std::int64_t from_ = 0, to_ = 0;
    std::vector<text_query> children_;
};

}  // namespace stowage
