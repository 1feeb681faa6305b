// session_model.hpp — the seed app's recording session as a described
// entity, shared by the store tests, the golden-data writer and benchmarks.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "stowage/describe.hpp"

namespace app {

enum class status { draft, recording, processing, done, failed };
STOWAGE_DESCRIBE_ENUM(status, draft, recording, processing, done, failed)

struct segment {
    std::int64_t start_ms = 0;
    std::int64_t end_ms = 0;
    std::string text;
    bool operator==(const segment&) const = default;
};
STOWAGE_DESCRIBE(segment, start_ms, end_ms, text)

struct session {
    std::string id;
    std::string name;
    status state = status::draft;
    std::int64_t start_time = 0;
    std::optional<std::int64_t> end_time;
    double duration_s = 0;
    std::vector<std::string> tags;
    std::vector<std::uint32_t> topic_ids;
    std::map<std::string, std::string> metadata;
    std::vector<segment> transcript;
    std::optional<std::string> notes;
    bool operator==(const session&) const = default;
};
STOWAGE_DESCRIBE(session, id, name, state, start_time, end_time, duration_s, tags, topic_ids, metadata, transcript,
                 notes)

// What the session list shows.
struct session_summary {
    std::string id;
    std::string name;
    status state = status::draft;
    std::int64_t start_time = 0;
    bool operator==(const session_summary&) const = default;
};
STOWAGE_DESCRIBE(session_summary, id, name, state, start_time)

// A deterministic session of roughly `approx_bytes` when encoded as JSON.
inline session make_session(std::uint64_t n, std::size_t approx_bytes = 2000) {
    std::mt19937_64 rng(n * 7919 + 1);
    session s;
    s.id = "session-" + std::to_string(n);
    s.name = "Recording " + std::to_string(n) + " – standup «notes»";
    s.state = static_cast<status>(n % 5);
    s.start_time = 1700000000000 + static_cast<std::int64_t>(n) * 60000;
    if (n % 3) s.end_time = s.start_time + 1800000;
    s.duration_s = 1800.25 + static_cast<double>(n % 100) / 8;
    s.tags = {"team", n % 2 ? "audio" : "video", "tag" + std::to_string(n % 17)};
    s.topic_ids = {static_cast<std::uint32_t>(n % 50), static_cast<std::uint32_t>(n % 7 + 100)};
    s.metadata = {{"device", "mic-" + std::to_string(n % 4)}, {"app", "stowage-demo"}, {"locale", "fr-FR"}};
    std::size_t size = 400;
    for (int i = 0; size < approx_bytes; ++i) {
        segment seg{i * 5000, i * 5000 + 4800, "segment " + std::to_string(i) + " words " + std::to_string(rng() % 100000) +
                                                    " and some more text of the transcript"};
        size += seg.text.size() + 40;
        s.transcript.push_back(std::move(seg));
    }
    if (n % 4 == 0) s.notes = "follow up with ✓ action items";
    return s;
}

}  // namespace app
