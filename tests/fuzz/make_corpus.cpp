// make_corpus.cpp — writes the seed corpora of tests/fuzz/corpus/ with the
// library itself (each seed is a valid input of its harness; libFuzzer
// mutates from there). Run once after a format changes:
//
//   cmake --build build-fuzz --target fuzz_make_corpus
//   build-fuzz/tests/fuzz/fuzz_make_corpus tests/fuzz/corpus
//
// The output is the same from run to run (the export's clock is fixed).
#include <stowage/backup.hpp>
#include <stowage/cas_map.hpp>
#include <stowage/codec/binary.hpp>
#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>
#include <stowage/database.hpp>
#include <stowage/envelope.hpp>
#include <stowage/export.hpp>
#include <stowage/hash/blake2b.hpp>
#include <stowage/hash/crc32c.hpp>
#include <stowage/hash/sha256.hpp>
#include <stowage/index/segment.hpp>
#include <stowage/storage/memory.hpp>
#include <stowage/store.hpp>
#include <stowage/wal.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "fuzz_support.hpp"

namespace fs = std::filesystem;
using namespace stowage;

namespace {

fs::path out_root;

void seed(const std::string& corpus, const std::string& name, bytes_view data) {
    fs::create_directories(out_root / corpus);
    std::ofstream out(out_root / corpus / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    if (!out) throw std::runtime_error("cannot write " + (out_root / corpus / name).string());
}
void seed(const std::string& corpus, const std::string& name, std::string_view text) { seed(corpus, name, as_bytes(text)); }

std::vector<fuzz::record> records() {
    std::vector<fuzz::record> v;
    v.push_back({"s1", 0, {}, std::nullopt, std::nullopt, fuzz::state::draft, {}, {}, std::nullopt, std::nullopt});
    v.push_back({"session-42", -9000000000000000000LL, {"work", "weekly", "é✓"}, "a \"note\"\n\ttab", 41,
                 fuzz::state::active, {{1, 0.5}, {-7, std::nullopt}, {2147483647, -1e300}}, {{"a", 1}, {"zz", 4294967295u}},
                 0.1f, true});
    v.push_back({"x/y %", 9223372036854775807LL, {""}, "", -1, fuzz::state::done, {{0, 0.0}}, {{"", 0}}, -3.4e38f, false});
    fuzz::kinds k;
    k.at = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1765146028123456789LL));
    k.length = std::chrono::milliseconds(-1500);
    k.blob = {std::byte{0}, std::byte{0xff}, std::byte{'a'}};
    k.digest = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
    k.pair_of = {-1, 32767};
    k.labels = {"b", "a"};
    k.by_number = {{-5, fuzz::state::done}, {7, fuzz::state::draft}};
    k.flags = {{"x", true}, {"y", false}};
    k.pair = {255, "p"};
    k.tuple = {2.5, fuzz::state::active};
    k.choice = fuzz::item{3, 0.25};
    k.maybe_maybe = std::optional<std::int32_t>{};
    k.path = "dir/file";
    v.push_back({"kinds", 1, {"t"}, std::nullopt, std::nullopt, fuzz::state::done, {}, {}, std::nullopt, std::nullopt, k});
    return v;
}

void json_seeds() {
    int i = 0;
    for (const auto& r : records()) seed("json_codec", "record" + std::to_string(++i) + ".json", to_json(r));
    seed("json_codec", "unknown_fields.json",
         R"({"id":"u","count":1,"tags":["a"],"status":"done","items":[],"counters":{},"extra":{"deep":[1,2.5e-3,null,true,"\u00e9\ud83d\ude00"]},"note":null})");
    seed("json_document", "session.json",
         R"({"id":"s1","name":"Weekly sync","n":1e400,"big":123456789012345678901234567890,"tags":["a","b"],"meta":{"x":null,"y":false,"z":[[],{}]}})");
    seed("json_document", "escapes.json", "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u00e9\\ud83d\\ude00\",\"dup\":1,\"dup\":2}");
    seed("json_document", "numbers.json", R"({"a":-0,"b":0.0e0,"c":-12.5E+3,"d":1e-400,"e":[1,-1,3.14159]})");
    seed("json_document", "nested.json", R"({"a":[[[[[[[[[[{"b":[{"c":{}}]}]]]]]]]]]]})");
    seed("json_document", "empty.json", "{}");
}

void binary_seeds() {
    int i = 0;
    for (const auto& r : records()) {
        bytes out;
        binary_codec{}.encode(r, out);
        seed("binary_codec", "record" + std::to_string(++i) + ".bin", out);
    }
    bytes doc;
    binary_codec{}.encode(json_document::parse(R"({"id":"d","n":1e400,"a":[null,true,false,"s",{"k":[]}]})"), doc);
    seed("binary_codec", "document.bin", doc);
}

void gzip_seeds() {
    int i = 0;
    for (const auto& r : records()) {
        bytes out;
        gzip<json_codec>(9).encode(r, out);
        seed("gzip", "record" + std::to_string(++i) + ".gz", out);
    }
    // Two members (as `cat a.gz b.gz` makes), and a stored (level 0) one.
    const std::string json = to_json(records()[1]);
    bytes two;
    gzip_compress(as_bytes(json.substr(0, 40)), two, 6);
    gzip_compress(as_bytes(json.substr(40)), two, 1);
    seed("gzip", "two_members.gz", two);
    bytes stored;
    gzip_compress(as_bytes(to_json(records()[0])), stored, 0);
    seed("gzip", "stored.gz", stored);
}

template <class Codec, class Hasher>
bytes make_record(const fuzz::record& r, std::uint64_t lsn) {
    bytes payload;
    Codec{}.encode(r, payload);
    Hasher h;
    h.update(payload);
    const auto digest = h.finish();
    envelope_header header;
    header.schema_version = 1;
    header.lsn = lsn;
    header.codec = std::string(Codec::name);
    header.hasher = std::string(Hasher::name);
    header.id = r.id;
    header.projection = R"({"id":")" + r.id + R"(","count":)" + std::to_string(r.count) + "}";
    header.payload_size = payload.size();
    header.payload_digest.assign(digest.begin(), digest.end());
    bytes record;
    write_envelope_header(header, record);
    append(record, payload);
    return record;
}

void envelope_seeds() {
    const auto rs = records();
    seed("envelope", "json_sha256.rec", make_record<json_codec, sha256>(rs[1], 0));
    seed("envelope", "binary_blake2b.rec", make_record<binary_codec, blake2b>(rs[2], 812));
    seed("envelope", "gzip_json_crc32c.rec", make_record<gzip<json_codec>, crc32c>(rs[0], 7));
    seed("envelope", "gzip_binary_sha256.rec", make_record<gzip<binary_codec>, sha256>(rs[1], 1));
}

wal_options wal_seed_options() {
    wal_options o;
    o.preallocate = 0;
    o.reserve_bytes = 0;
    o.batch_window = std::chrono::milliseconds(0);
    return o;
}

// The segment a log holds after `commits` ran on it.
template <class Commits>
bytes wal_segment(Commits commits) {
    memory_storage storage;
    {
        wal<memory_storage> log(storage, "wal", wal_seed_options());
        wal_recovery_report report;
        log.recover(report);
        commits(log);
        log.flush();
    }
    auto names = wal<memory_storage>(storage, "wal", wal_seed_options()).segment_names();
    return storage.read(names.at(0)).value();
}

void wal_seeds() {
    auto put = [](std::string key, std::string value) {
        return wal_op{wal_record_type::put, std::move(key), to_bytes(value), 0};
    };
    auto erase = [](std::string key) { return wal_op{wal_record_type::erase, std::move(key), {}, 0}; };
    auto commit = [](wal<memory_storage>& log, std::vector<wal_op> ops) {
        log.wait_durable(log.append(log.next_txid(), std::span<const wal_op>(ops)), durability::full);
    };
    seed("wal", "one_put.log", wal_segment([&](auto& log) { commit(log, {put("sessions/2a/s1", "{\"id\":\"s1\"}")}); }));
    seed("wal", "three_transactions.log", wal_segment([&](auto& log) {
             commit(log, {put("a/00/1", "one"), put("a/00/2", "two")});
             commit(log, {erase("a/00/1")});
             commit(log, {put("b/ff/x", std::string(300, 'x')), erase("b/ff/y"), put("a/00/3", "")});
         }));
    seed("wal", "empty_transaction.log", wal_segment([&](auto& log) { commit(log, {}); }));
    // An intact transaction, then one cut short by the end of the file (a torn append).
    bytes torn = wal_segment([&](auto& log) {
        commit(log, {put("t/00/a", "kept")});
        commit(log, {put("t/00/b", "torn away")});
    });
    torn.resize(torn.size() - 10);
    seed("wal", "torn_tail.log", torn);
}

void import_seeds() {
    export_registry reg;
    reg.add<fuzz::record, binary_codec>("records");
    database<memory_storage> db{memory_storage()};
    db_store<json_document, memory_storage, gzip<json_codec>> docs(db.storage(), "docs");
    db_store<fuzz::record, memory_storage, binary_codec> recs(db.storage(), "records");
    cas_map<memory_storage> blobs(db);
    auto tx = db.transaction();
    tx.put(docs, json_document::parse(R"({"id":"d1","n":1e400,"s":"é\n","a":[1,{"b":null}]})"));
    tx.put(docs, json_document::parse(R"({"id":"odd/id ✓","big":123456789012345678901234567890})"));
    for (const auto& r : records()) tx.put(recs, r);
    auto d = blobs.put(as_bytes(std::string("attachment bytes: ") + std::string(200, 'z')));
    blobs.add_ref(tx, d, "d1", "video");
    tx.commit();
    for (bool attachments : {false, true}) {
        export_options o;
        o.attachments = attachments;
        o.registry = &reg;
        o.clock = [] { return std::chrono::system_clock::time_point(std::chrono::seconds(1714564800)); };
        std::ostringstream out;
        export_database(db, out, o);
        seed("import", attachments ? "export_attachments.jsonl" : "export.jsonl", out.str());
    }
    seed("import", "unsigned.jsonl",
         "{\"format\":\"stowage-export\",\"version\":1,\"collections\":[{\"name\":\"docs\",\"codec\":\"gzip+json\"}]}\n"
         "{\"collection\":\"docs\",\"schema\":3,\"document\":{\"id\":\"hand\",\"v\":[1,2]}}\n");
    seed("import", "legacy.json", "[" + to_json(records()[0]) + "," + to_json(records()[2]) + "]");
}

void index_seeds() {
    const fts::segment_shape shape{"fuzz:text=title,body;keyword=tag,status;time=start", 2, 2, 1};
    {
        fts::segment_builder<std::string> b(shape);
        const char* words[] = {"weekly", "sync", "notes", "video", "budget", "plan"};
        for (int d = 0; d < 6; ++d) {
            b.begin("doc-" + std::to_string(d));
            for (int w = 0; w <= d; ++w) b.token(words[(d + w) % 6], static_cast<unsigned>(w % 2));
            b.keyword(fts::keyword_term(0, d % 2 ? "work" : "home"));
            b.keyword(fts::keyword_term(1, "done"));
            if (d % 3) b.time(0, 1714564800000LL + d);
            b.end();
        }
        b.tombstone("doc-old");
        seed("index_segment", "strings.seg", b.finish());
    }
    {
        // Integer keys; 300 documents so the common term's list has a skip table.
        fts::segment_builder<std::uint64_t> b(shape);
        for (std::uint64_t d = 0; d < 300; ++d) {
            b.begin(d * 3 + 1);
            b.token("common", 0);
            if (d % 7 == 0) b.token("rare", 1);
            if (d % 50 == 0) b.keyword(fts::keyword_term(1, "x"));
            b.end();
        }
        b.tombstone(2);
        seed("index_segment", "integers.seg", b.finish());
    }
    seed("index_segment", "empty.seg", fts::segment_builder<std::string>(shape).finish());
}

void backup_seeds() {
    detail::backup_manifest m;
    m.id = "b1";  // the backup the harness reads: <root>/b1/
    m.time_ms = 1714564800123;
    m.lsn = 812;
    m.reason = "manual";
    m.files.push_back({"sessions/2a/s1", 311, std::string(64, 'a'), false});
    m.files.push_back({"cas/sha256/ab/ab" + std::string(62, '0'), 70004, std::string(64, 'b'), true});
    m.files.push_back({"wal/checkpoint", 28, std::string(64, 'c'), false});
    seed("backup_manifest", "manifest.json", detail::backup_manifest_json(m));
    m.files.clear();
    m.reason = "before migration to 3";
    seed("backup_manifest", "no_files.json", detail::backup_manifest_json(m));
    // Format 1 (no checksum of its own), as older builds wrote it.
    seed("backup_manifest", "format1.json",
         R"({"format":"stowage-backup","version":1,"id":"b1","time":"2024-05-01T12:00:00Z","time_ms":1714564800123,)"
         R"("lsn":812,"reason":"manual","files":[{"path":"sessions/2a/s1","size":311,"sha256":")" +
             std::string(64, 'a') + R"(","linked":false},{"path":"wal/checkpoint","size":28,"sha256":")" +
             std::string(64, 'c') + R"(","linked":true}],"damage":[{"path":"sessions/2a/s2","problem":"gone"}]})" "\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " CORPUS_DIR (tests/fuzz/corpus)\n";
        return 2;
    }
    out_root = argv[1];
    json_seeds();
    binary_seeds();
    gzip_seeds();
    envelope_seeds();
    wal_seeds();
    import_seeds();
    index_seeds();
    backup_seeds();
    std::cout << "seeds written under " << out_root << "\n";
    return 0;
}
