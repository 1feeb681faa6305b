// cli/index_commands.hpp — full-text indexes from the shell:
//
//   stowage index build DIR --tsv FILE [--tokenizer ascii|unicode]
//       index FILE ("-" = standard input; gzip'd when it ends in .gz): one
//       document per line, id<TAB>field1<TAB>field2..., the id a
//       non-negative integer, every field text (fields f1, f2, ...);
//       replaces any index DIR already holds; prints a summary line
//   stowage index search DIR [--mode and|or] [--top K] QUERY...
//       the ids of the documents holding every (and, default) or some (or)
//       token of the query, ascending, one per line; with --top, the K best
//       by BM25 as "id<TAB>score", best first. A query without tokens
//       (only stop words, "c++" under ascii) prints nothing.
//   stowage index stats DIR
//       documents, segments, terms, postings, bytes
//
// DIR may be rados:POOL:CONF where the command is built with librados
// (location.hpp). The index is a document_index (inverted_index.hpp) named
// "index" in DIR's database: build is one transaction (durable when it returns), search and
// stats open the directory read-only. The tokenizer and field count are
// recorded in the index; search reads them from there.
// Thread safety: single-threaded (one command per process).
#pragma once

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <stowage/codec/gzip.hpp>
#include <stowage/database.hpp>
#include <stowage/index/ascii_tokenizer.hpp>
#include <stowage/index/unicode_tokenizer.hpp>
#include <stowage/inverted_index.hpp>
#include <stowage/storage/file.hpp>

#include "common.hpp"
#include "location.hpp"

namespace stowage::cli {

namespace index_detail {

inline constexpr std::string_view index_name = "index";
template <class Storage>
using manifest_store = db_store<fts::manifest, Storage, binary_codec, crc32c>;

inline std::string read_input(const std::string& file) {
    std::string raw;
    if (file == "-") {
        raw.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        if (std::cin.bad()) throw error(errc::io, "cannot read standard input");
    } else {
        std::ifstream in(file, std::ios::binary);
        if (!in) throw error(errc::io, "cannot open " + file);
        raw.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        if (in.bad()) throw error(errc::io, "cannot read " + file);
    }
    if (raw.size() >= 2 && static_cast<unsigned char>(raw[0]) == 0x1f && static_cast<unsigned char>(raw[1]) == 0x8b)
        return to_string(gzip_decompress(as_bytes(raw)));
    return raw;
}

struct tsv {
    std::vector<std::pair<std::uint64_t, std::vector<std::string_view>>> rows;
    std::size_t fields = 0;
};

// Parses the whole text (views into it); bad_input names the line.
inline tsv parse_tsv(std::string_view text, const std::string& file) {
    tsv t;
    std::size_t line_no = 0;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;
        auto where = [&] { return file + ":" + std::to_string(line_no); };
        auto tab = line.find('\t');
        std::string_view id_text = line.substr(0, tab);
        std::uint64_t id = 0;
        if (id_text.empty() || id_text.size() > 19) throw error(errc::bad_input, where() + ": the id must be a non-negative integer");
        for (char c : id_text) {
            if (c < '0' || c > '9') throw error(errc::bad_input, where() + ": the id \"" + std::string(id_text.substr(0, 40)) + "\" is not a non-negative integer");
            id = id * 10 + static_cast<std::uint64_t>(c - '0');
        }
        std::vector<std::string_view> fields;
        while (tab != std::string_view::npos) {
            line = line.substr(tab + 1);
            tab = line.find('\t');
            fields.push_back(line.substr(0, tab));
        }
        t.fields = std::max(t.fields, fields.size());
        t.rows.emplace_back(id, std::move(fields));
    }
    return t;
}

inline index_schema schema_of(std::size_t fields) {
    index_schema s;
    for (std::size_t f = 1; f <= std::max<std::size_t>(fields, 1); ++f) s.text("f" + std::to_string(f));
    return s;
}

// The field count and tokenizer recorded in an index's signature
// ("text:f1;text:f2;tokenizer=ascii;...").
struct recorded {
    std::size_t fields = 0;
    std::string tokenizer;
};
inline recorded parse_signature(const std::string& sig) {
    recorded r;
    std::size_t pos = 0;
    while (sig.compare(pos, 5, "text:") == 0) {
        auto end = sig.find(';', pos);
        if (end == std::string::npos) break;
        ++r.fields;
        pos = end + 1;
    }
    if (sig.compare(pos, 10, "tokenizer=") == 0) {
        r.tokenizer = sig.substr(pos + 10);  // "ascii;min=2;stop=..."
    }
    return r;
}

template <class Storage>
std::optional<fts::manifest> read_manifest(database<Storage>& db) {
    manifest_store<Storage> meta(db.storage(), std::string(index_name));
    return meta.get("head");
}

template <class Storage, class Tokenizer>
int build_with(Storage storage, const tsv& t, Tokenizer tok) {
    database<Storage> db{std::move(storage)};
    auto schema = schema_of(t.fields);
    // An index built before with other fields or another tokenizer goes first.
    if (auto head = read_manifest(db)) {
        text_index<std::uint64_t, Tokenizer> probe(schema, tok);
        if (head->signature != probe.signature()) {
            manifest_store<Storage> meta(db.storage(), std::string(index_name));
            auto tx = db.transaction();
            for (const auto& s : head->segments) tx.stage({std::string(index_name) + "/segments/" + s, std::nullopt, {}});
            tx.erase(meta, "head");
            tx.commit();
        }
    }
    document_index<std::uint64_t, Storage, Tokenizer> idx(db, std::string(index_name), schema, tok);
    index_batch<std::uint64_t> b;
    for (const auto& [id, fields] : t.rows) {
        text_document doc;
        for (std::size_t f = 0; f < fields.size(); ++f) doc.text("f" + std::to_string(f + 1), std::string(fields[f]));
        b.add(id, std::move(doc));
    }
    auto tx = db.transaction();
    idx.replace_all(tx, std::move(b));
    tx.commit();
    auto st = idx.stats();
    std::cout << "indexed " << st.documents << " documents, " << t.fields << " fields, " << st.terms << " terms, "
              << st.bytes << " bytes (" << Tokenizer::name << " tokenizer)\n";
    return exit_ok;
}

inline int build(arguments& args) {
    auto file = args.option("--tsv");
    std::string tokenizer = args.option("--tokenizer").value_or("ascii");
    auto pos = args.positionals(1, 1);
    if (!file) throw usage_error("index build: --tsv FILE is required");
    if (tokenizer != "ascii" && tokenizer != "unicode")
        throw usage_error("index build: --tokenizer must be ascii or unicode, got '" + tokenizer + "'");
    std::string text = read_input(*file);
    tsv t = parse_tsv(text, *file);
    std::vector<std::uint64_t> ids;
    ids.reserve(t.rows.size());
    for (const auto& r : t.rows) ids.push_back(r.first);
    std::sort(ids.begin(), ids.end());
    if (auto d = std::adjacent_find(ids.begin(), ids.end()); d != ids.end())
        throw error(errc::bad_input, *file + ": id " + std::to_string(*d) + " appears on more than one line");
    return with_storage(pos[0], open_mode::read_write, [&](auto storage) {
        if (tokenizer == "ascii") return build_with(std::move(storage), t, ascii_tokenizer());
        return build_with(std::move(storage), t, unicode_tokenizer());
    });
}

template <class Storage, class Tokenizer, class Fn>
int with_index(database<Storage>& db, std::size_t fields, Tokenizer tok, Fn&& fn) {
    document_index<std::uint64_t, Storage, Tokenizer> idx(db, std::string(index_name), schema_of(fields), tok);
    return fn(idx);
}

// Opens DIR's index read-only with the tokenizer it was built with.
template <class Fn>
int open_index(const std::string& dir, Fn&& fn) {
    return with_storage(dir, open_mode::read_only, [&](auto storage) {
        database<decltype(storage)> db{std::move(storage)};
        auto head = read_manifest(db);
        if (!head) throw error(errc::not_found, "no index in " + dir + " (run 'stowage index build')");
        auto r = parse_signature(head->signature);
        if (r.tokenizer.starts_with("ascii;")) return with_index(db, r.fields, ascii_tokenizer(), fn);
        if (r.tokenizer.starts_with("unicode;")) return with_index(db, r.fields, unicode_tokenizer(), fn);
        throw error(errc::unsupported,
                    "index in " + dir + " uses a tokenizer this build does not know: " + head->signature);
    });
}

inline int search(arguments& args) {
    std::string mode = args.option("--mode").value_or("and");
    auto top_text = args.option("--top");
    auto pos = args.positionals(1);
    if (mode != "and" && mode != "or") throw usage_error("index search: --mode must be and or or, got '" + mode + "'");
    std::optional<std::size_t> top;
    if (top_text) {
        if (top_text->empty() || top_text->size() > 9 || top_text->find_first_not_of("0123456789") != std::string::npos)
            throw usage_error("index search: --top needs a number, got '" + *top_text + "'");
        top = std::stoul(*top_text);
    }
    std::string text;
    for (std::size_t i = 1; i < pos.size(); ++i) text += (i > 1 ? " " : "") + pos[i];
    auto query = text_query::words(text, mode == "and" ? text_query::mode::all : text_query::mode::any);
    return open_index(pos[0], [&](const auto& idx) {
        std::string out;
        if (top) {
            for (const auto& h : idx.top(query, *top)) {
                char score[40];
                std::snprintf(score, sizeof score, "%.6f", h.score);
                out += std::to_string(h.key) + "\t" + score + "\n";
            }
        } else {
            for (auto id : idx.search(query)) {
                out += std::to_string(id);
                out += '\n';
            }
        }
        std::cout << out;
        return exit_ok;
    });
}

inline int stats(arguments& args) {
    auto pos = args.positionals(1, 1);
    return open_index(pos[0], [&](const auto& idx) {
        auto s = idx.stats();
        std::cout << "documents: " << s.documents << "\ndeleted: " << s.deleted << "\nsegments: " << s.segments
                  << "\nterms: " << s.terms << "\npostings: " << s.postings << "\nbytes: " << s.bytes << "\n";
        return exit_ok;
    });
}

inline int dispatch(arguments& args) {
    auto sub = args.subcommand();
    if (!sub) throw usage_error("index: expected a subcommand (build, search, stats)");
    if (*sub == "build") return build(args);
    if (*sub == "search") return search(args);
    if (*sub == "stats") return stats(args);
    throw usage_error("index: unknown subcommand '" + *sub + "' (build, search, stats)");
}

}  // namespace index_detail

inline constexpr command index_command{
    "index", "build|search|stats DIR ...", "full-text index of a TSV file: build, search, stats",
    "  index build DIR --tsv FILE [--tokenizer ascii|unicode]\n"
    "      index FILE (- = standard input; .gz accepted): id<TAB>field1<TAB>field2... per line,\n"
    "      ids non-negative integers, fields text; replaces DIR's index\n"
    "  index search DIR [--mode and|or] [--top K] QUERY...\n"
    "      ids of matching documents, ascending, one per line; with --top K the K best\n"
    "      by BM25 as \"id<TAB>score\", best first; a query without tokens matches nothing\n"
    "  index stats DIR     documents, deleted, segments, terms, postings, bytes",
    index_detail::dispatch};

}  // namespace stowage::cli
