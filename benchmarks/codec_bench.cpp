// Codec throughput on a session-like entity (~2 KB of JSON): json, binary,
// gzip<json> at levels 1/6/9 and gzip<binary>, encode and decode; and
// json_document (the `stowage` command's path) parse and dump.
//
// bytes_per_second counts the entity's JSON size for every codec, so the MB/s
// figures compare codecs on the same work (entities per second x JSON size).
// Counters: `encoded` is the average record size the codec produces, `ratio`
// that size over the JSON size (0.35 = 65% smaller). gzip_collection
// compresses all 64 entities as one stream, for comparison.
//
//   build-codec/benchmarks/codec_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <stowage/codec/binary.hpp>
#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>
#include <stowage/codec/json_document.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace bench {

enum class status { draft, recording, processing, done, archived };
STOWAGE_DESCRIBE_ENUM(status, draft, recording, processing, done, archived)

struct location {
    double latitude = 0;
    double longitude = 0;
    std::string place;
};
STOWAGE_DESCRIBE(location, latitude, longitude, place)

struct item {  // a screenshot, an audio segment, a note
    std::string id;
    std::string kind;
    std::int64_t at_ms = 0;
    std::int64_t duration_ms = 0;
    std::optional<std::string> caption;
    std::vector<std::string> labels;
};
STOWAGE_DESCRIBE(item, id, kind, at_ms, duration_ms, caption, labels)

struct session {
    std::string id;
    std::string name;
    std::string type_description;
    status state = status::draft;
    std::int64_t start_time = 0;
    std::optional<std::int64_t> end_time;
    std::vector<std::string> tags;
    std::vector<std::string> topic_ids;
    std::map<std::string, std::string> metadata;
    location where;
    std::vector<item> items;
};
STOWAGE_DESCRIBE(session, id, name, type_description, state, start_time, end_time, tags, topic_ids, metadata, where, items)

std::string uuid(std::mt19937_64& rng) {
    static const char hex[] = "0123456789abcdef";
    std::string s = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx";
    for (auto& c : s)
        if (c == 'x' || c == 'y') c = hex[rng() & 15];
    return s;
}

std::string words(std::mt19937_64& rng, int n) {
    static const char* const vocab[] = {"weekly",   "sync",    "design",  "review", "customer", "interview", "notes",
                                        "roadmap",  "budget",  "launch",  "retro",  "planning", "demo",      "bug",
                                        "triage",   "hiring",  "onboard", "kernel", "storage",  "latency",   "the",
                                        "and",      "with",    "for",     "team",   "follow-up", "décision", "über"};
    std::string s;
    for (int i = 0; i < n; ++i) {
        if (i) s += ' ';
        s += vocab[rng() % std::size(vocab)];
    }
    return s;
}

session make_session(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    session s;
    s.id = uuid(rng);
    s.name = words(rng, 4);
    s.type_description = words(rng, 30);
    s.state = static_cast<status>(rng() % 5);
    s.start_time = 1700000000000 + static_cast<std::int64_t>(rng() % 100000000);
    s.end_time = s.start_time + 3600000;
    for (int i = 0; i < 5; ++i) s.tags.push_back(words(rng, 1));
    for (int i = 0; i < 4; ++i) s.topic_ids.push_back(uuid(rng));
    s.metadata = {{"app_version", "4.12.0"},          {"device", "MacBookPro18,3"},
                  {"os", "macOS 14.2.1"},             {"recorder", "screen+mic"},
                  {"resolution", "3024x1964"},        {"timezone", "Europe/Berlin"}};
    s.where = {52.520008, 13.404954, "Berlin office, room " + std::to_string(rng() % 40)};
    for (int i = 0; i < 10; ++i) {
        item it;
        it.id = uuid(rng);
        it.kind = i % 3 == 0 ? "screenshot" : (i % 3 == 1 ? "audio" : "note");
        it.at_ms = static_cast<std::int64_t>(i) * 60000 + static_cast<std::int64_t>(rng() % 1000);
        it.duration_ms = static_cast<std::int64_t>(rng() % 30000);
        if (i % 2 == 0) it.caption = words(rng, 6);
        it.labels = {words(rng, 1), words(rng, 1)};
        s.items.push_back(std::move(it));
    }
    return s;
}

// A pool of distinct entities, so caches do not see the same bytes each time.
struct corpus {
    std::vector<session> sessions;
    double avg_json = 0;
    corpus() {
        for (std::uint64_t i = 0; i < 64; ++i) sessions.push_back(make_session(i));
        for (const auto& s : sessions) avg_json += static_cast<double>(stowage::to_json(s).size());
        avg_json /= static_cast<double>(sessions.size());
    }
    static const corpus& get() {
        static const corpus c;
        return c;
    }
};

template <class Codec>
void report(benchmark::State& state, double encoded_total, std::size_t count) {
    const auto& c = corpus::get();
    const double encoded = encoded_total / static_cast<double>(count);
    state.SetBytesProcessed(static_cast<std::int64_t>(static_cast<double>(state.iterations()) * c.avg_json));
    state.SetItemsProcessed(state.iterations());
    state.counters["encoded"] = encoded;
    state.counters["ratio"] = encoded / c.avg_json;
}

template <class Codec>
void encode(benchmark::State& state, Codec codec) {
    const auto& c = corpus::get();
    stowage::bytes out;
    out.reserve(1 << 16);
    std::size_t i = 0;
    double encoded_total = 0;
    std::size_t count = 0;
    for (auto _ : state) {
        out.clear();
        codec.encode(c.sessions[i++ % c.sessions.size()], out);
        benchmark::DoNotOptimize(out.data());
        encoded_total += static_cast<double>(out.size());
        ++count;
    }
    report<Codec>(state, encoded_total, count);
}

template <class Codec>
void decode(benchmark::State& state, Codec codec) {
    const auto& c = corpus::get();
    std::vector<stowage::bytes> records;
    double encoded_total = 0;
    for (const auto& s : c.sessions) {
        records.emplace_back();
        codec.encode(s, records.back());
        encoded_total += static_cast<double>(records.back().size());
    }
    session out;
    std::size_t i = 0;
    for (auto _ : state) {
        codec.decode(records[i++ % records.size()], out);
        benchmark::DoNotOptimize(out.id.data());
    }
    report<Codec>(state, encoded_total, records.size());
}

void json_document_parse(benchmark::State& state) {
    const auto& c = corpus::get();
    std::vector<std::string> texts;
    for (const auto& s : c.sessions) texts.push_back(stowage::to_json(s));
    std::size_t i = 0;
    for (auto _ : state) {
        auto doc = stowage::json_document::parse(texts[i++ % texts.size()]);
        benchmark::DoNotOptimize(doc.size());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(static_cast<double>(state.iterations()) * c.avg_json));
    state.SetItemsProcessed(state.iterations());
}

void json_document_dump(benchmark::State& state) {
    const auto& c = corpus::get();
    std::vector<stowage::json_document> docs;
    for (const auto& s : c.sessions) docs.push_back(stowage::json_document::parse(stowage::to_json(s)));
    std::size_t i = 0;
    for (auto _ : state) {
        auto text = docs[i++ % docs.size()].dump();
        benchmark::DoNotOptimize(text.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(static_cast<double>(state.iterations()) * c.avg_json));
    state.SetItemsProcessed(state.iterations());
}

// The whole collection (64 sessions as one JSON array) in one gzip stream,
// for comparison with per-record compression: repetition across records is
// what a single-file store compresses away.
void gzip_collection(benchmark::State& state) {
    const auto& c = corpus::get();
    const std::string json = stowage::to_json(c.sessions);
    stowage::bytes out;
    for (auto _ : state) {
        out.clear();
        stowage::gzip_compress(stowage::as_bytes(json), out, static_cast<int>(state.range(0)));
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * json.size()));
    state.counters["ratio"] = static_cast<double>(out.size()) / static_cast<double>(json.size());
}

}  // namespace bench

using stowage::binary_codec;
using stowage::gzip;
using stowage::json_codec;

// BENCHMARK_CAPTURE pastes the function name into identifiers: unqualified names.
template <class Codec>
void encode(benchmark::State& state, Codec codec) {
    bench::encode(state, std::move(codec));
}
template <class Codec>
void decode(benchmark::State& state, Codec codec) {
    bench::decode(state, std::move(codec));
}
using bench::gzip_collection;
using bench::json_document_dump;
using bench::json_document_parse;

BENCHMARK_CAPTURE(encode, json, json_codec{});
BENCHMARK_CAPTURE(decode, json, json_codec{});
BENCHMARK_CAPTURE(encode, binary, binary_codec{});
BENCHMARK_CAPTURE(decode, binary, binary_codec{});
BENCHMARK_CAPTURE(encode, gzip1_json, gzip<json_codec>(1));
BENCHMARK_CAPTURE(decode, gzip1_json, gzip<json_codec>(1));
BENCHMARK_CAPTURE(encode, gzip6_json, gzip<json_codec>(6));
BENCHMARK_CAPTURE(decode, gzip6_json, gzip<json_codec>(6));
BENCHMARK_CAPTURE(encode, gzip9_json, gzip<json_codec>(9));
BENCHMARK_CAPTURE(decode, gzip9_json, gzip<json_codec>(9));
BENCHMARK_CAPTURE(encode, gzip6_binary, gzip<binary_codec>(6));
BENCHMARK_CAPTURE(decode, gzip6_binary, gzip<binary_codec>(6));
BENCHMARK(json_document_parse);
BENCHMARK(json_document_dump);
BENCHMARK(gzip_collection)->Arg(1)->Arg(6)->Arg(9);

BENCHMARK_MAIN();
