// evolution.cpp — an app's 2.0 entity type reading the records its 1.0 wrote,
// and a type of the app's own taught to the codecs (docs/entities.md).
//
//   evolution [DIR]     (default: a fresh directory under /tmp)
//
// Release 1.0 stored notes with a `name`, a vector of tags and a start time
// in epoch milliseconds. Release 2.0 renamed `name` to `title`, made the tags
// a set, added a priority (default 3), a colour (an app type stored through
// stowage::codec_adapter) and a std::chrono duration. Nothing was migrated:
// 2.0 opens 1.0's directory and reads every note, in both codecs.
#include <stowage/stowage.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace v1 {
struct note {
    std::string id;
    std::string name;
    std::vector<std::string> tags;
    std::int64_t started_ms = 0;
};
STOWAGE_DESCRIBE(note, id, name, tags, started_ms)
}  // namespace v1

namespace v2 {
// A type the library knows nothing about.
struct rgb {
    unsigned char r = 0, g = 0, b = 0;
};

struct note {
    std::string id;
    std::string title;                                  // was `name`
    std::set<std::string> tags;                         // was a vector
    std::int64_t started_ms = 0;
    std::int32_t priority = 3;                          // new: old notes read 3
    rgb color{255, 200, 0};                             // new: old notes read this yellow
    std::chrono::seconds reminder_after = std::chrono::hours(24);  // new
};
STOWAGE_DESCRIBE(note, id, title, tags, started_ms, priority, color, reminder_after)
STOWAGE_FIELD_RULES(note, stowage::required("id"), stowage::renamed("title", "name"))
}  // namespace v2

// The colour is stored as "#rrggbb" in both codecs.
template <>
struct stowage::codec_adapter<v2::rgb> {
    using representation = std::string;
    static std::string to(const v2::rgb& c) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
        return buf;
    }
    static v2::rgb from(std::string&& s) {
        unsigned r, g, b;
        char end;
        if (s.size() != 7 || std::sscanf(s.c_str(), "#%2x%2x%2x%c", &r, &g, &b, &end) != 3)
            throw stowage::error(stowage::errc::bad_input, "not an #rrggbb colour: \"" + s + "\"");
        return {static_cast<unsigned char>(r), static_cast<unsigned char>(g), static_cast<unsigned char>(b)};
    }
};

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    const fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path() / "stowage-evolution-example";
    fs::remove_all(dir);

    // --- release 1.0 writes ---
    {
        stowage::database<stowage::file_storage> db{stowage::file_storage(dir)};
        stowage::db_store<v1::note, stowage::file_storage> json_notes(db.storage(), "notes");
        stowage::db_store<v1::note, stowage::file_storage, stowage::binary_codec> binary_notes(db.storage(), "compact");
        for (int i = 1; i <= 3; ++i) {
            v1::note n{"note-" + std::to_string(i), "Standup " + std::to_string(i), {"team", "daily", "team"},
                       1765146028000 + i * 60000};
            json_notes.put(n);
            binary_notes.put(n);
        }
    }

    // --- release 2.0 reads, and writes its own records next to the old ones ---
    stowage::database<stowage::file_storage> db{stowage::file_storage(dir)};
    stowage::db_store<v2::note, stowage::file_storage> json_notes(db.storage(), "notes");
    stowage::db_store<v2::note, stowage::file_storage, stowage::binary_codec> binary_notes(db.storage(), "compact");
    int read = 0;
    for (auto* store_name : {"notes", "compact"}) {
        for (int i = 1; i <= 3; ++i) {
            const std::string id = "note-" + std::to_string(i);
            auto n = std::string(store_name) == "notes" ? json_notes.get(id) : binary_notes.get(id);
            if (!n || n->title != "Standup " + std::to_string(i) || n->tags.size() != 2 || n->priority != 3 ||
                n->reminder_after != std::chrono::hours(24) || n->color.g != 200) {
                std::printf("FAILED: %s/%s did not read as expected\n", store_name, id.c_str());
                return 1;
            }
            ++read;
        }
    }
    std::printf("release 2.0 read %d notes written by 1.0 (title from \"name\", priority 3, tags as a set)\n", read);

    v2::note fresh{"note-4", "Retro", {"team"}, 1765146400000, 1, {0x12, 0xab, 0xff}, std::chrono::minutes(90)};
    json_notes.put(fresh);
    std::printf("a 2.0 note as stored: %s\n", stowage::to_json(*json_notes.get("note-4")).c_str());
    return 0;
}
