// cli/index_commands.hpp — full-text indexes from the shell:
//
//   stowage index build DIR --tsv FILE [--tokenizer ascii|unicode]
//       index FILE ("-" = standard input; gunzipped when it starts with
//       gzip's magic bytes): one document per line,
//       id<TAB>field1<TAB>field2..., the id an integer from 0 to 2^64 - 1,
//       every field text (fields f1, f2, ...); replaces any index DIR
//       already holds; prints a summary line. The input is read (and
//       gunzipped) in blocks: a line over 16 MiB or a token over 64 KiB is
//       refused (bad_input, exit 2, naming the line and the limit), as is a
//       truncated or corrupt .gz (naming the file) — input errors, not damage.
//   stowage index search DIR [--mode and|or] [--top K] QUERY...
//       the ids of the documents holding every (and, default) or some (or)
//       token of the query, ascending, one per line; with --top, the K best
//       by BM25 as "id<TAB>score", best first. A query without tokens
//       (only stop words, "c++" under ascii) prints nothing.
//   stowage index stats DIR
//       documents, segments, terms, postings, bytes
//
//
// Indexes attached to a collection of JSON documents (`stowage put`'s),
// kept up to date by the database on every later write, by any command or
// program (commit_hooks.hpp):
//   stowage index attach DIR COLLECTION --field F [--field F...] [--tokenizer ascii|unicode]
//       indexes the named top-level string fields (strings, or arrays of
//       strings) of the collection's documents, those already there
//       included (caught up before it returns); the same fields and
//       tokenizer again change nothing, others rebuild the index.
//   stowage index search DIR --collection COLLECTION [--mode and|or] [--top K] QUERY...
//       the matching ids in ascending byte order (escaped as `ls` does), or
//       with --top "id<TAB>score", best first.
//   stowage index detach DIR COLLECTION
//       removes the attachment, then the index's data.
// The index of collection C is an inverted_index named "idx-C" (its
// manifest is collection "idx-C", its segments "idx-C/segments/..."), so
// `put` refuses collection names starting with "idx-". Its definition
// ("inverted_index;text:F;...;tokenizer=...") is what the database records
// for the attachment; search rebuilds schema and tokenizer from it.
//
// DIR may be rados:POOL:CONF where the command is built with librados
// (location.hpp). The TSV index is a document_index (inverted_index.hpp) named
// "index" in DIR's database: build is one transaction (durable when it returns), search and
// stats open the directory read-only. The tokenizer and field count are
// recorded in the index; search reads them from there. An attached search
// opens DIR read-write, so that its catch-up is kept, unless another
// process holds the writer lock: then read-only, catching up in memory.
// Thread safety: single-threaded (one command per process).
#pragma once

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>
#include <stowage/codec/json_document.hpp>
#include <stowage/database.hpp>
#include <stowage/index/ascii_tokenizer.hpp>
#include <stowage/index/unicode_tokenizer.hpp>
#include <stowage/inverted_index.hpp>
#include <stowage/storage/file.hpp>

#include "common.hpp"
#include "location.hpp"
#include "store_commands.hpp"

namespace stowage::cli {

namespace index_detail {

inline constexpr std::string_view index_name = "index";
template <class Storage>
using manifest_store = db_store<fts::manifest, Storage, binary_codec, crc32c>;

// Limits of `index build`, so that memory never grows with one line or one
// token (a 3 MB .gz of zeros is one line of gigabytes; it took 7.3 GB): the
// input is read and gunzipped in blocks, and a line or a token past these is
// bad_input naming the file, the line and the limit. No real TSV comes near
// them; a token of 64 KiB is no word anyone searches for (Lucene refuses
// terms past 32 KiB).
inline constexpr std::size_t max_line = std::size_t{16} << 20;   // bytes of one line, '\n' not counted
inline constexpr std::size_t max_token = std::size_t{64} << 10;  // bytes of one token

// FILE ("-": standard input) as a stream of bytes, gunzipped on the fly when
// it starts with gzip's magic bytes. Any problem with the input itself (a
// truncated or corrupt .gz) is bad_input naming the file: it is not damage
// to stored data.
class input {
public:
    explicit input(const std::string& file) : name_(file == "-" ? "standard input" : file) {
        if (file == "-") {
            f_ = stdin;
        } else {
            owned_.reset(std::fopen(file.c_str(), "rb"));
            // "No such file or directory" naming it, as every command reports an input file.
            if (!owned_) throw_errno(errno, "cannot open " + file);
            f_ = owned_.get();
        }
        raw_.resize(block);
        fill_raw();
        gzip_ = raw_end_ >= 2 && static_cast<unsigned char>(raw_[0]) == 0x1f && static_cast<unsigned char>(raw_[1]) == 0x8b;
        if (gzip_) {
            if (inflateInit2(&zs_, 15 + 16) != Z_OK) throw std::bad_alloc();
            zs_open_ = true;
        }
    }
    ~input() {
        if (zs_open_) inflateEnd(&zs_);
    }
    input(const input&) = delete;
    input& operator=(const input&) = delete;

    const std::string& name() const { return name_; }

    // Up to n bytes into out; 0 at the end of the input.
    std::size_t read(char* out, std::size_t n) {
        if (!gzip_) {
            if (raw_pos_ == raw_end_ && !fill_raw()) return 0;
            std::size_t k = std::min(n, raw_end_ - raw_pos_);
            std::memcpy(out, raw_.data() + raw_pos_, k);
            raw_pos_ += k;
            return k;
        }
        for (;;) {
            if (member_done_) {
                // Another member (`cat a.gz b.gz`) or the end of the input.
                if (raw_pos_ == raw_end_ && !fill_raw()) return 0;
                if (inflateReset(&zs_) != Z_OK) bad("cannot restart inflate");
                member_done_ = false;
            }
            if (raw_pos_ == raw_end_ && !fill_raw())
                bad("truncated gzip stream (it ends at byte " + std::to_string(consumed_) + ")");
            zs_.next_in = reinterpret_cast<Bytef*>(raw_.data() + raw_pos_);
            zs_.avail_in = static_cast<uInt>(raw_end_ - raw_pos_);
            zs_.next_out = reinterpret_cast<Bytef*>(out);
            zs_.avail_out = static_cast<uInt>(std::min<std::size_t>(n, std::size_t{1} << 30));
            const std::size_t before_in = zs_.avail_in, before_out = zs_.avail_out;
            const int rc = inflate(&zs_, Z_NO_FLUSH);
            raw_pos_ += before_in - zs_.avail_in;
            consumed_ += before_in - zs_.avail_in;
            const std::size_t got = before_out - zs_.avail_out;
            if (rc == Z_STREAM_END) member_done_ = true;
            else if (rc == Z_MEM_ERROR) throw std::bad_alloc();
            else if (rc != Z_OK && rc != Z_BUF_ERROR)
                bad("corrupt gzip stream near byte " + std::to_string(consumed_) + " (" +
                    (zs_.msg ? zs_.msg : "zlib error " + std::to_string(rc)) + ")");
            if (got > 0) return got;
        }
    }

private:
    bool fill_raw() {
        raw_pos_ = 0;
        raw_end_ = std::fread(raw_.data(), 1, raw_.size(), f_);
        if (raw_end_ == 0 && std::ferror(f_)) throw_errno(errno, "cannot read " + name_);
        return raw_end_ > 0;
    }
    [[noreturn]] void bad(const std::string& why) { throw error(errc::bad_input, name_ + ": " + why); }

    static constexpr std::size_t block = std::size_t{1} << 16;
    std::string name_;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> owned_{nullptr, &std::fclose};
    std::FILE* f_ = nullptr;
    std::string raw_;
    std::size_t raw_pos_ = 0, raw_end_ = 0;
    std::uint64_t consumed_ = 0;
    bool gzip_ = false, zs_open_ = false, member_done_ = false;
    z_stream zs_{};
};

// The lines of an input, each at most max_line bytes.
class line_reader {
public:
    explicit line_reader(input& in) : in_(in) {}
    std::size_t number() const { return number_; }

    // The next line (without '\n') into `line`; false at the end.
    bool next(std::string& line) {
        line.clear();
        bool any = false;
        for (;;) {
            if (pos_ == end_) {
                end_ = in_.read(buf_.data(), buf_.size());
                pos_ = 0;
                if (end_ == 0) {
                    if (any) ++number_;
                    return any;
                }
            }
            any = true;
            const char* start = buf_.data() + pos_;
            const char* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
            std::size_t take = nl ? static_cast<std::size_t>(nl - start) : end_ - pos_;
            if (line.size() + take > max_line)
                throw error(errc::bad_input, in_.name() + ":" + std::to_string(number_ + 1) +
                                                 ": the line is longer than the limit of " + std::to_string(max_line) +
                                                 " bytes (16 MiB)");
            line.append(start, take);
            pos_ += take + (nl ? 1 : 0);
            if (nl) {
                ++number_;
                return true;
            }
        }
    }

private:
    input& in_;
    std::array<char, std::size_t{1} << 16> buf_{};
    std::size_t pos_ = 0, end_ = 0, number_ = 0;
};

struct tsv {
    index_batch<std::uint64_t> batch;
    std::size_t fields = 0;
};

// The longest run of bytes that no tokenizer splits (ASCII letters and
// digits, and every byte of a multi-byte character): an upper bound on the
// length of any token of `text`, before case folding.
inline std::size_t longest_word_run(std::string_view text) {
    std::size_t best = 0, run = 0;
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        bool word = u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
        run = word ? run + 1 : 0;
        best = std::max(best, run);
    }
    return best;
}

// The id column: a decimal integer from 0 to 2^64 - 1 (the index's keys are
// std::uint64_t; every value works).
inline std::uint64_t parse_id(std::string_view text, const std::string& where) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) {
        std::string shown;  // control bytes (a binary file's NULs) escaped, so the message stays readable
        for (char c : text.substr(0, 40)) {
            auto u = static_cast<unsigned char>(c);
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", u);
            shown += u < 0x20 || u == 0x7f ? std::string(hex) : std::string(1, c);
        }
        throw error(errc::bad_input, where + ": the id \"" + shown + "\" is not a non-negative integer");
    }
    std::uint64_t id = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), id);
    if (r.ec != std::errc{})
        throw error(errc::bad_input, where + ": the id " + std::string(text.substr(0, 40)) +
                                         " is above the largest id, 18446744073709551615 (2^64 - 1)");
    return id;
}

// Reads the whole input before the directory is opened (a bad line leaves
// the index alone), one line at a time: only the documents are kept.
// bad_input names the line.
template <class Tokenizer>
tsv read_tsv(const std::string& file, const Tokenizer& tok) {
    input in(file);
    line_reader lines(in);
    tsv t;
    std::vector<std::uint64_t> ids;
    std::string line;
    while (lines.next(line)) {
        std::string_view rest = line;
        if (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
        if (rest.empty()) continue;
        auto where = [&] { return in.name() + ":" + std::to_string(lines.number()); };
        auto tab = rest.find('\t');
        std::uint64_t id = parse_id(rest.substr(0, tab), where());
        text_document doc;
        std::size_t fields = 0;
        while (tab != std::string_view::npos) {
            rest = rest.substr(tab + 1);
            tab = rest.find('\t');
            std::string_view field = rest.substr(0, tab);
            ++fields;
            if (longest_word_run(field) > max_token)  // rare: only then tokenize to know
                tok.tokenize(field, [&](std::string_view token) {
                    if (token.size() > max_token)
                        throw error(errc::bad_input, where() + ": field " + std::to_string(fields) + " holds a token of " +
                                                         std::to_string(token.size()) + " bytes, over the limit of " +
                                                         std::to_string(max_token) + " bytes (64 KiB)");
                }, false);
            doc.text("f" + std::to_string(fields), std::string(field));
        }
        t.fields = std::max(t.fields, fields);
        ids.push_back(id);
        t.batch.add(id, std::move(doc));
    }
    std::sort(ids.begin(), ids.end());
    if (auto d = std::adjacent_find(ids.begin(), ids.end()); d != ids.end())
        throw error(errc::bad_input, in.name() + ": id " + std::to_string(*d) + " appears on more than one line");
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
int build_with(Storage storage, tsv& t, Tokenizer tok) {
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
    auto tx = db.transaction();
    idx.replace_all(tx, std::move(t.batch));
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
    auto build_from = [&](auto tok) {
        tsv t = read_tsv(*file, tok);
        return with_storage(pos[0], open_mode::read_write,
                            [&](auto storage) { return build_with(std::move(storage), t, tok); });
    };
    if (tokenizer == "ascii") return build_from(ascii_tokenizer());
    return build_from(unicode_tokenizer());
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

// --- indexes attached to a collection of JSON documents ---------------------------

template <class Storage>
using json_documents = db_store<json_document, Storage, gzip<json_codec>>;  // as `stowage put` stores them

inline std::string attached_name(const std::string& collection) { return "idx-" + collection; }

// A collection the attach/search/detach commands take: one `put` accepts,
// short enough for its index's name.
inline void validate_attached_collection(const std::string& collection) {
    validate_document_collection(collection);
    if (collection.size() > 60)
        throw error(errc::bad_input, "collection name \"" + collection + "\" is too long to attach an index to (at most "
                                     "60 characters: the index is collection \"idx-" + collection + "\")");
}

inline index_schema text_schema(const std::vector<std::string>& fields) {
    index_schema s;
    for (const auto& f : fields) s.text(f);  // bad_input: a field twice, or a name with ';' or ':'
    return s;
}

// What inverted_index::definition() is for these fields and tokenizer.
template <class Tokenizer>
std::string attached_definition(const std::vector<std::string>& fields, const Tokenizer& tok) {
    text_index<std::string, Tokenizer> probe(text_schema(fields), tok);
    return "inverted_index;" + probe.signature();
}

// The fields and tokenizer of a definition
// ("inverted_index;text:F;text:G;tokenizer=unicode;ucd=14;..."); nullopt
// when it is not one this command makes (another kind of field, another
// component).
struct attached_spec {
    std::vector<std::string> fields;
    std::string tokenizer;  // "ascii", "unicode", or what the definition names
};
inline std::optional<attached_spec> parse_definition(const std::string& def) {
    constexpr std::string_view prefix = "inverted_index;";
    if (!def.starts_with(prefix)) return std::nullopt;
    attached_spec spec;
    std::size_t pos = prefix.size();
    while (def.compare(pos, 5, "text:") == 0) {
        auto end = def.find(';', pos);
        if (end == std::string::npos) return std::nullopt;
        spec.fields.push_back(def.substr(pos + 5, end - pos - 5));
        pos = end + 1;
    }
    if (spec.fields.empty() || def.compare(pos, 10, "tokenizer=") != 0) return std::nullopt;
    pos += 10;
    spec.tokenizer = def.substr(pos, def.find(';', pos) - pos);
    return spec;
}

inline std::string describe(const std::vector<std::string>& fields, std::string_view tokenizer) {
    std::string s = std::to_string(fields.size()) + (fields.size() == 1 ? " field (" : " fields (");
    for (std::size_t i = 0; i < fields.size(); ++i) s += (i ? ", " : "") + fields[i];
    return s + "), " + std::string(tokenizer) + " tokenizer";
}

// Documents a catch-up could not read (damaged records, left out of the
// index): one stderr line each, then damage (exit 1).
inline void report_unreadable(const std::vector<std::pair<std::string, std::string>>& unreadable,
                              const std::string& dir, const std::string& collection) {
    if (unreadable.empty()) return;
    for (const auto& [id, why] : unreadable) print_error("document \"" + id + "\" of " + collection + ": " + why);
    throw damage_found(std::to_string(unreadable.size()) + " document" + (unreadable.size() == 1 ? "" : "s") +
                       " of collection " + collection + " could not be read and " +
                       (unreadable.size() == 1 ? "is" : "are") + " not in its index (see 'stowage verify " + dir + "')");
}

template <class Storage, class Tokenizer>
int attach_with(Storage storage, const std::string& dir, const std::string& collection,
                const std::vector<std::string>& fields, Tokenizer tok) {
    database<Storage> db(std::move(storage), options_for(open_mode::read_write));
    warn_about_log_damage(db.recovery(), dir);
    const std::string name = attached_name(collection);
    const std::string definition = attached_definition(fields, tok);
    const auto before = db.attachment(name);
    if (before && before->collection != collection)
        throw error(errc::bad_input, name + " in " + dir + " is attached to collection " + before->collection + ", not " +
                                         collection + " (not by 'stowage index attach'); nothing changed");
    std::optional<fts::manifest> head;
    {
        manifest_store<Storage> meta(db.storage(), name);
        head = meta.get("head");
    }  // (its listing snapshot is written here, before an erase below takes it too)
    // Other fields or another tokenizer: the library redefines no
    // attachment in place, so the old one is detached (its own
    // transaction), then its index's data erased, then the new one
    // attached (asking for a rebuild). A crash in between leaves the
    // collection without an attached index (search says so; attach again),
    // never with a stale one.
    const bool redefine = before && before->definition != definition;
    if (redefine) db.detach(name);
    // Data of that name the definition does not match (left by an
    // interrupted command) goes too, as the index could not open it; when
    // the attachment stays, it is asked to rebuild in the same transaction.
    if (redefine || (head && "inverted_index;" + head->signature != definition)) {
        auto tx = db.transaction();
        for (const auto& key : db.storage().list(name + "/")) tx.stage({key, std::nullopt, {}});
        if (before && !redefine) tx.stage({detail::attachment_rebuild_key(name), to_bytes("rebuild"), {}});
        tx.commit();
    }
    json_documents<Storage> documents(db.storage(), collection);
    // Attaches (a new or changed definition asks for a rebuild: the
    // documents already there), then catches up: durable at return.
    inverted_index<json_documents<Storage>, Tokenizer> idx(db, documents, name, text_schema(fields), tok);
    std::vector<std::pair<std::string, std::string>> unreadable;
    if (idx.behind() > 0) unreadable = idx.catch_up();
    const std::string what = describe(fields, Tokenizer::name) + ", " + std::to_string(idx.core().size()) +
                             " document" + (idx.core().size() == 1 ? "" : "s") + " indexed\n";
    if (!before) std::cout << "attached " << name << " to " << collection << ": " << what;
    else if (before->definition != definition) std::cout << "reattached " << name << " to " << collection << " (index rebuilt): " << what;
    else std::cout << "unchanged: " << name << " already attached to " << collection << ": " << what;
    report_unreadable(unreadable, dir, collection);
    return exit_ok;
}

inline int attach(arguments& args) {
    auto fields = args.options("--field");
    std::string tokenizer = args.option("--tokenizer").value_or("unicode");
    auto pos = args.positionals(2, 2);
    if (fields.empty()) throw usage_error("index attach: at least one --field F is required");
    if (tokenizer != "ascii" && tokenizer != "unicode")
        throw usage_error("index attach: --tokenizer must be ascii or unicode, got '" + tokenizer + "'");
    validate_attached_collection(pos[1]);
    (void)text_schema(fields);  // a bad field list is refused before DIR is opened
    return with_storage(pos[0], open_mode::read_write, [&](auto storage) {
        if (tokenizer == "ascii") return attach_with(std::move(storage), pos[0], pos[1], fields, ascii_tokenizer());
        return attach_with(std::move(storage), pos[0], pos[1], fields, unicode_tokenizer());
    });
}

struct attached_query {
    text_query query;
    std::optional<std::size_t> top;
};

template <class Storage, class Tokenizer>
int attached_search_in(database<Storage>& db, const std::string& dir, const std::string& collection,
                       const attached_spec& spec, const std::string& definition, Tokenizer tok, const attached_query& q) {
    // Rebuilt exactly: a tokenizer of this build that differs from the one
    // recorded (another stop list) would answer differently, and, opened
    // read-write, attach the index anew.
    if (attached_definition(spec.fields, tok) != definition)
        throw error(errc::unsupported, "the index attached to collection " + collection + " in " + dir +
                                           " was defined by another build (\"" + definition + "\", this build makes \"" +
                                           attached_definition(spec.fields, tok) +
                                           "\"); attach it again to rebuild it with this one");
    json_documents<Storage> documents(db.storage(), collection);
    inverted_index<json_documents<Storage>, Tokenizer> idx(db, documents, attached_name(collection),
                                                           text_schema(spec.fields), tok);
    auto unreadable = idx.catch_up();
    std::string out;
    if (q.top) {
        for (const auto& h : idx.top(q.query, *q.top)) {
            char score[40];
            std::snprintf(score, sizeof score, "%.6f", h.score);
            append_escaped_id(out, h.key);
            out += '\t';
            out += score;
            out += '\n';
        }
    } else {
        auto ids = idx.search(q.query);
        std::sort(ids.begin(), ids.end());  // std::string's order: bytes, unsigned
        for (const auto& id : ids) {
            append_escaped_id(out, id);
            out += '\n';
        }
    }
    std::cout << out;
    report_unreadable(unreadable, dir, collection);
    return exit_ok;
}

template <class Storage>
int attached_search_with(Storage storage, open_mode mode, const std::string& dir, const std::string& collection,
                         const attached_query& q) {
    database<Storage> db(std::move(storage), options_for(mode));
    warn_about_log_damage(db.recovery(), dir);
    const std::string name = attached_name(collection);
    auto info = db.attachment(name);
    if (!info)
        throw error(errc::not_found, "no index attached to collection " + collection + " in " + dir +
                                         " (run 'stowage index attach " + dir + " " + collection + " --field F')");
    if (info->collection != collection)
        throw error(errc::unsupported, name + " in " + dir + " is attached to collection " + info->collection + ", not " +
                                           collection + " (not by 'stowage index attach')");
    auto spec = parse_definition(info->definition);
    if (!spec)
        throw error(errc::unsupported, "the index attached to collection " + collection + " in " + dir +
                                           " is not one this command reads: \"" + info->definition + "\"");
    if (spec->tokenizer == ascii_tokenizer::name)
        return attached_search_in(db, dir, collection, *spec, info->definition, ascii_tokenizer(), q);
    if (spec->tokenizer == unicode_tokenizer::name)
        return attached_search_in(db, dir, collection, *spec, info->definition, unicode_tokenizer(), q);
    throw error(errc::unsupported, "the index attached to collection " + collection + " in " + dir +
                                       " uses a tokenizer this build does not know: \"" + info->definition + "\"");
}

// Read-write when it can (its catch-up is then kept and the journal
// consumed); read-only when another process holds the writer lock, or DIR
// may not be written (the catch-up is then in memory: the answers are as
// current). A directory that does not exist is not created.
inline int attached_search(const std::string& dir, const std::string& collection, const attached_query& q) {
    validate_attached_collection(collection);
    std::error_code ec;
    bool writable = is_pool(dir) || std::filesystem::is_directory(dir, ec);
    if (writable) {
        bool opened = false;
        try {
            return with_storage(dir, open_mode::read_write, [&](auto storage) {
                opened = true;
                return attached_search_with(std::move(storage), open_mode::read_write, dir, collection, q);
            });
        } catch (const error& e) {
            if (opened || (e.kind() != errc::locked && e.kind() != errc::permission_denied)) throw;
        }
    }
    return with_storage(dir, open_mode::read_only, [&](auto storage) {
        return attached_search_with(std::move(storage), open_mode::read_only, dir, collection, q);
    });
}

template <class Storage>
int detach_with(Storage storage, const std::string& dir, const std::string& collection) {
    database<Storage> db(std::move(storage), options_for(open_mode::read_write));
    warn_about_log_damage(db.recovery(), dir);
    const std::string name = attached_name(collection);
    if (auto info = db.attachment(name); info && info->collection != collection)
        throw error(errc::bad_input, name + " in " + dir + " is attached to collection " + info->collection + ", not " +
                                         collection + " (not by 'stowage index attach'); nothing changed");
    // The attachment first (its own transaction: from its commit on, no
    // write is journaled for it), then the index's data (manifest record,
    // listing snapshot, segments): a crash in between leaves data nothing
    // uses, which detach (or attach, rebuilding) removes later; the other
    // order could leave an attachment over an index that lost its documents.
    const bool attached = db.detach(name);
    auto keys = db.storage().list(name + "/");
    if (!keys.empty()) {
        auto tx = db.transaction();
        for (const auto& key : keys) tx.stage({key, std::nullopt, {}});
        tx.commit();
    }
    if (!attached && keys.empty())
        throw error(errc::not_found, "no index attached to collection " + collection + " in " + dir);
    const std::string removed = std::to_string(keys.size()) + (keys.size() == 1 ? " key" : " keys");
    if (attached) std::cout << "detached " << name << " from " << collection << ": index data removed (" << removed << ")\n";
    else std::cout << "no index was attached to " << collection << "; removed the leftover data of " << name << " (" << removed << ")\n";
    return exit_ok;
}

inline int detach(arguments& args) {
    auto pos = args.positionals(2, 2);
    validate_attached_collection(pos[1]);
    return with_storage(pos[0], open_mode::read_write,
                        [&](auto storage) { return detach_with(std::move(storage), pos[0], pos[1]); });
}

inline int search(arguments& args) {
    std::string mode = args.option("--mode").value_or("and");
    auto top_text = args.option("--top");
    auto collection = args.option("--collection");
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
    if (collection) return attached_search(pos[0], *collection, {query, top});
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
    if (!sub) throw usage_error("index: expected a subcommand (build, search, stats, attach, detach)");
    if (*sub == "build") return build(args);
    if (*sub == "search") return search(args);
    if (*sub == "stats") return stats(args);
    if (*sub == "attach") return attach(args);
    if (*sub == "detach") return detach(args);
    throw usage_error("index: unknown subcommand '" + *sub + "' (build, search, stats, attach, detach)");
}

}  // namespace index_detail

inline constexpr command index_command{
    "index", "build|search|stats|attach|detach DIR ...",
    "full-text indexes: of a TSV file (build, search, stats), or attached to a collection",
    "  index build DIR --tsv FILE [--tokenizer ascii|unicode]\n"
    "      index FILE (- = standard input; .gz accepted): id<TAB>field1<TAB>field2... per line,\n"
    "      ids integers from 0 to 18446744073709551615, fields text; replaces DIR's index.\n"
    "      Limits: a line at most 16 MiB, a token at most 64 KiB; beyond them, or for a\n"
    "      truncated .gz, it exits 2 naming the line (or file) and leaves the index alone\n"
    "  index search DIR [--mode and|or] [--top K] QUERY...\n"
    "      ids of matching documents, ascending, one per line; with --top K the K best\n"
    "      by BM25 as \"id<TAB>score\", best first; a query without tokens matches nothing\n"
    "  index stats DIR     documents, deleted, segments, terms, postings, bytes\n"
    "\n"
    "Attached to a collection of JSON documents (put, rm, import and programs using the\n"
    "library keep it up to date; no build step):\n"
    "  index attach DIR COLLECTION --field F [--field F...] [--tokenizer ascii|unicode]\n"
    "      indexes the top-level fields F (strings, or arrays of strings; other values are\n"
    "      not indexed) of the collection's documents, those already there included, before\n"
    "      it returns; tokenizer unicode by default. The same fields and tokenizer again\n"
    "      change nothing; others rebuild the index. The index of COLLECTION is named\n"
    "      idx-COLLECTION (collection idx-COLLECTION holds its manifest, keys\n"
    "      idx-COLLECTION/segments/... its segments), so 'put' refuses collection names\n"
    "      starting with \"idx-\"\n"
    "  index search DIR --collection COLLECTION [--mode and|or] [--top K] QUERY...\n"
    "      matching ids in ascending byte order, one per line (tab, newline, carriage\n"
    "      return and backslash escaped as in 'ls'); with --top K \"id<TAB>score\", best\n"
    "      first. Opens DIR read-write to record its catch-up, or read-only (catching up\n"
    "      in memory: the answers are as current) while another process writes; no index\n"
    "      attached to COLLECTION exits 3\n"
    "  index detach DIR COLLECTION\n"
    "      removes the attachment, then the index's data; later writes are not journaled",
    index_detail::dispatch};

}  // namespace stowage::cli
