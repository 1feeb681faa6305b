// Tests for image/webp.hpp: PNG -> WebP on a generated screenshot-like image
// (title bar, gradients, lines of glyphs, a photo-like panel) written by
// libpng — smaller, same size, close to the original pixels, smaller still
// at lower quality, alpha kept; malformed and animated PNGs refused; and the
// job over a cas_map: every referenced PNG becomes WebP, each session's
// attachment and the CAS references move together, the old PNGs are then
// collected, and a power loss in the middle leaves everything readable.
#define BOOST_TEST_MODULE webp
#include "test_support.hpp"

#include <zlib.h>

#include <cmath>
#include <random>

#include "stowage/cas_map.hpp"
#include "stowage/codec/json.hpp"
#include "stowage/image/webp.hpp"
#include "stowage/maintenance.hpp"
#include "stowage/storage/memory.hpp"

using namespace stowage;
using namespace std::chrono_literals;

namespace {

// What a process sees after its storage vanished in a simulated crash: the
// I/O error itself, or the WAL refusing work after a failed append.
inline bool died_with_storage(const stowage::error& e) {
    return e.kind() == errc::io || e.kind() == errc::failed_state;
}

// A screenshot-like image: window chrome, a sidebar, text lines drawn
// from a 5x7 glyph pattern per character, and a smooth "photo" panel.
rgba_image screenshot(std::uint32_t w, std::uint32_t h, std::uint64_t seed, bool alpha = false) {
    rgba_image img;
    img.width = w;
    img.height = h;
    img.has_alpha = alpha;
    img.pixels.assign(std::size_t(w) * h * 4, 255);
    auto px = [&](std::uint32_t x, std::uint32_t y, int r, int g, int b) {
        auto* p = &img.pixels[(std::size_t(y) * w + x) * 4];
        p[0] = static_cast<std::uint8_t>(std::clamp(r, 0, 255));
        p[1] = static_cast<std::uint8_t>(std::clamp(g, 0, 255));
        p[2] = static_cast<std::uint8_t>(std::clamp(b, 0, 255));
    };
    for (std::uint32_t y = 0; y < h; ++y)
        for (std::uint32_t x = 0; x < w; ++x) {
            if (y < 28) px(x, y, 40 + int(x * 60 / w), 70 + int(x * 80 / w), 140 + int(y * 3));  // title bar
            else if (x < w / 5) px(x, y, 235 - int(y * 20 / h), 238 - int(y * 20 / h), 242);     // sidebar
            else px(x, y, 250 - int(y * 12 / h), 250 - int(y * 8 / h), 252);                      // page
        }
    std::mt19937_64 rng(seed);
    // Text: lines of words, each character a 5x7 pattern in a 7x11 cell.
    for (std::uint32_t line = 40; line + 11 < h * 2 / 3; line += 16) {
        std::uint32_t x = w / 5 + 12;
        while (x + 7 < w - 12) {
            int word = 2 + static_cast<int>(rng() % 8);
            for (int c = 0; c < word && x + 7 < w - 12; ++c, x += 7) {
                std::uint64_t glyph = rng() | 0x1020408102ull;
                for (int gy = 0; gy < 7; ++gy)
                    for (int gx = 0; gx < 5; ++gx)
                        if ((glyph >> (gy * 5 + gx)) & 1) px(x + static_cast<std::uint32_t>(gx), line + static_cast<std::uint32_t>(gy), 30, 30, 40);
            }
            x += 7;
        }
    }
    // A photo-like panel: smooth colour fields with mild noise.
    for (std::uint32_t y = h * 2 / 3; y < h - 8; ++y)
        for (std::uint32_t x = w / 5 + 12; x < w - 12; ++x) {
            double fx = x * 0.021, fy = y * 0.034;
            int n = static_cast<int>(rng() % 9) - 4;
            px(x, y, int(128 + 90 * std::sin(fx + 0.7 * std::cos(fy))) + n, int(128 + 80 * std::sin(fy * 1.3 + fx * 0.4)) + n,
               int(128 + 70 * std::cos(fx * 0.8 - fy)) + n);
        }
    if (alpha)  // a transparent border fading in
        for (std::uint32_t y = 0; y < h; ++y)
            for (std::uint32_t x = 0; x < w; ++x) {
                auto d = std::min({x, y, w - 1 - x, h - 1 - y});
                img.pixels[(std::size_t(y) * w + x) * 4 + 3] = static_cast<std::uint8_t>(std::min<std::uint32_t>(255, d * 16));
            }
    return img;
}

double psnr(const rgba_image& a, const rgba_image& b, int channels = 3) {
    double se = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.pixels.size(); i += 4)
        for (int c = 0; c < channels; ++c) {
            double d = double(a.pixels[i + static_cast<std::size_t>(c)]) - double(b.pixels[i + static_cast<std::size_t>(c)]);
            se += d * d;
            ++n;
        }
    double mse = se / double(n);
    return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

// The same PNG with an acTL chunk (APNG) after IHDR.
bytes make_animated(bytes png) {
    bytes chunk;
    auto be32 = [&](std::uint32_t v) {
        for (int i = 3; i >= 0; --i) chunk.push_back(std::byte((v >> (8 * i)) & 0xff));
    };
    be32(8);
    append(chunk, as_bytes("acTL"));
    be32(1);  // frames
    be32(0);  // plays
    auto crc = crc32(0, reinterpret_cast<const Bytef*>(chunk.data() + 4), 12);
    be32(static_cast<std::uint32_t>(crc));
    png.insert(png.begin() + 33, chunk.begin(), chunk.end());  // 8 signature + 25 IHDR
    return png;
}

}  // namespace

BOOST_AUTO_TEST_CASE(screenshot_png_becomes_a_smaller_close_webp) {
    auto img = screenshot(480, 320, 1);
    bytes png = encode_png(img);
    BOOST_TEST(is_png(png));
    auto back = decode_png(png);
    BOOST_TEST((back.pixels == img.pixels));  // the PNG is lossless, as written

    bytes webp = png_to_webp(png, {.quality = 80});
    BOOST_TEST(is_webp(webp));
    BOOST_TEST(!is_png(webp));
    BOOST_TEST_MESSAGE("png " << png.size() << " bytes, webp q80 " << webp.size() << " bytes");
    BOOST_TEST(webp.size() * 10 < png.size() * 8);  // at least 20% smaller
    auto decoded = decode_webp(webp);
    BOOST_TEST(decoded.width == 480u);
    BOOST_TEST(decoded.height == 320u);
    BOOST_TEST(!decoded.has_alpha);
    double q80 = psnr(img, decoded);
    BOOST_TEST_MESSAGE("PSNR q80 " << q80 << " dB");
    BOOST_TEST(q80 > 28.0);

    bytes small = png_to_webp(png, {.quality = 20});
    bytes large = png_to_webp(png, {.quality = 95});
    BOOST_TEST(small.size() < webp.size());
    BOOST_TEST(webp.size() < large.size());
    BOOST_TEST(psnr(img, decode_webp(large)) > q80);
}

BOOST_AUTO_TEST_CASE(transparency_is_kept) {
    auto img = screenshot(160, 100, 2, true);
    bytes png = encode_png(img);
    auto decoded = decode_webp(png_to_webp(png, {.quality = 75}));
    BOOST_TEST(decoded.has_alpha);
    // Alpha at alpha_quality 100 is lossless.
    bool same_alpha = true;
    for (std::size_t i = 3; i < img.pixels.size(); i += 4) same_alpha = same_alpha && decoded.pixels[i] == img.pixels[i];
    BOOST_TEST(same_alpha);
}

BOOST_AUTO_TEST_CASE(bad_and_unsuitable_input_is_refused) {
    bytes png = encode_png(screenshot(64, 48, 3));
    bytes truncated(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2));
    try {
        png_to_webp(truncated);
        BOOST_ERROR("a truncated PNG converted");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::corrupt));
        BOOST_TEST(std::string(e.what()).starts_with("png: "));
    }
    bytes garbage = png;
    for (std::size_t i = 40; i < garbage.size(); ++i) garbage[i] = std::byte(i * 31);
    BOOST_CHECK_THROW(png_to_webp(garbage), stowage::error);
    BOOST_CHECK_THROW(png_to_webp(to_bytes("not a png at all")), stowage::error);

    bytes animated = make_animated(png);
    BOOST_TEST(is_animated_png(animated));
    BOOST_TEST(!is_animated_png(png));
    BOOST_TEST(decode_png(animated).width == 64u);  // libpng reads it (first frame only)...
    try {
        png_to_webp(animated);  // ...which is why it is refused
        BOOST_ERROR("an animated PNG converted");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::unsupported));
    }
    try {
        decode_png(png, 1000);  // 64 x 48 = 3072 pixels
        BOOST_ERROR("pixel limit ignored");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::unsupported));
    }
    BOOST_CHECK_THROW(png_to_webp(png, {.quality = 101}), stowage::error);
    BOOST_CHECK_THROW(png_to_webp(png, {.quality = 50, .method = 7}), stowage::error);
    BOOST_CHECK_THROW(decode_webp(png), stowage::error);
}

// ---------------------------------------------------------------------------------
// the job

namespace {

struct note {
    std::string id;
    std::string title;
    std::vector<std::string> attachments;  // hex digests
    bool operator==(const note&) const = default;
};
STOWAGE_DESCRIBE(note, id, title, attachments)

using notes_t = db_store<note, memory_storage>;
using blobs_t = cas_map<memory_storage>;

struct fixture_data {
    std::vector<note> notes;
    std::vector<bytes> pngs;  // 0, 1: screenshots; 2: animated; 3: malformed
};

// n0, n1 share screenshot 0; n2 holds screenshot 1 and a text file; n3 the
// animated PNG; n4 the malformed one. Screenshot 2 is not referenced.
fixture_data attach(database<memory_storage>& db, notes_t& notes, blobs_t& blobs) {
    fixture_data f;
    f.pngs.push_back(encode_png(screenshot(320, 200, 10)));
    f.pngs.push_back(encode_png(screenshot(256, 256, 11)));
    f.pngs.push_back(make_animated(encode_png(screenshot(96, 64, 12))));
    bytes bad = encode_png(screenshot(64, 64, 13));
    for (std::size_t i = 60; i < bad.size(); ++i) bad[i] = std::byte(i * 7);
    f.pngs.push_back(bad);
    std::vector<std::vector<bytes>> holds = {{f.pngs[0]}, {f.pngs[0]}, {f.pngs[1], to_bytes("plain text")}, {f.pngs[2]}, {f.pngs[3]}};
    for (std::size_t i = 0; i < holds.size(); ++i) {
        note n{"n" + std::to_string(i), "note", {}};
        auto tx = db.transaction();
        std::vector<blobs_t::digest> ds;
        for (auto& content : holds[i]) ds.push_back(blobs.put(content));
        for (std::size_t k = 0; k < ds.size(); ++k) {
            n.attachments.push_back(to_hex(ds[k]));
            blobs.add_ref(tx, ds[k], n.id, "file" + std::to_string(k));
        }
        tx.put(notes, n);
        tx.commit();
        f.notes.push_back(n);
    }
    blobs.put(encode_png(screenshot(100, 100, 14)));  // unreferenced
    return f;
}

auto relink_notes(notes_t& notes, std::function<void()> before = {}) {
    return [&notes, before](db_transaction<memory_storage>& tx, const cas_ref& ref, const std::string& from, const std::string& to) {
        if (before) before();
        auto n = tx.get(notes, ref.owner);
        if (!n) throw error(errc::not_found, "no note " + ref.owner);
        std::replace(n->attachments.begin(), n->attachments.end(), from, to);
        tx.put(notes, *n);
    };
}

// Every attachment exists and lists its note as a reference.
void check_references(notes_t& notes, blobs_t& blobs) {
    for (const auto& id : notes.ids()) {
        auto n = notes.get(id);
        for (const auto& hex : n->attachments) {
            auto d = digest_from_hex<sha256>(hex);
            BOOST_TEST_REQUIRE(blobs.get(d).has_value());
            auto refs = blobs.refs(d);
            BOOST_TEST(std::count_if(refs.begin(), refs.end(), [&](auto& r) { return r.owner == id; }) == 1);
        }
    }
}

cas_options no_grace() {
    cas_options o;
    o.grace = 0s;
    return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(job_converts_referenced_pngs_and_moves_references) {
    memory_storage mem;
    database<memory_storage> db(mem);
    notes_t notes(db.storage(), "notes");
    blobs_t blobs(db, whole(), no_grace());
    auto f = attach(db, notes, blobs);
    webp_options w;
    w.quality = 75;
    w.method = 2;  // quick: CI time is short
    auto job = png_to_webp_job(db, blobs, relink_notes(notes), w);
    int steps = 1;
    while (!job.step()) ++steps;
    auto r = job.report();
    BOOST_TEST(r.rewritten == 2u);  // the two referenced screenshots
    BOOST_TEST_MESSAGE("converted " << r.bytes_before << " -> " << r.bytes_after << " bytes");
    BOOST_TEST(r.bytes_after * 10 < r.bytes_before * 8);
    BOOST_TEST_REQUIRE(r.skipped_damaged.size() == 1u);  // the malformed PNG
    BOOST_TEST(r.skipped_damaged[0].second.find("png: ") != std::string::npos);

    auto n0 = *notes.get("n0"), n1 = *notes.get("n1"), n2 = *notes.get("n2");
    BOOST_TEST(n0.attachments[0] == n1.attachments[0]);  // still shared
    BOOST_TEST(n0.attachments[0] != f.notes[0].attachments[0]);
    auto converted = *blobs.get(digest_from_hex<sha256>(n0.attachments[0]));
    BOOST_TEST(is_webp(converted));
    BOOST_TEST(psnr(decode_png(f.pngs[0]), decode_webp(converted)) > 28.0);
    BOOST_TEST(is_webp(*blobs.get(digest_from_hex<sha256>(n2.attachments[0]))));
    BOOST_TEST(n2.attachments[1] == f.notes[2].attachments[1]);  // the text file stays
    BOOST_TEST((*notes.get("n3") == f.notes[3]));                // animated: left alone
    BOOST_TEST((*notes.get("n4") == f.notes[4]));                // malformed: left alone
    BOOST_TEST(blobs.ref_count(digest_from_hex<sha256>(n0.attachments[0])) == 2u);
    auto old0 = digest_from_hex<sha256>(f.notes[0].attachments[0]);
    BOOST_TEST(blobs.ref_count(old0) == 0u);
    check_references(notes, blobs);

    cas_gc_job gc(blobs);
    BOOST_TEST(gc.step());
    BOOST_TEST(gc.report().blobs_freed == 3u);  // two old PNGs and the unreferenced one
    BOOST_TEST(!blobs.contains(old0));
    check_references(notes, blobs);
}

BOOST_AUTO_TEST_CASE(power_loss_while_moving_references_keeps_every_attachment) {
    auto seed = stowage::test::test_seed();
    for (int crash_at = 1; crash_at <= 3; ++crash_at) {
        memory_storage mem(memory_storage::options{seed + static_cast<std::uint64_t>(crash_at), true});
        fixture_data f;
        {
            database<memory_storage> db(mem);
            notes_t notes(db.storage(), "notes");
            blobs_t blobs(db, whole(), no_grace());
            f = attach(db, notes, blobs);
            int calls = 0;
            webp_options w;
            w.method = 0;
            auto job = png_to_webp_job(db, blobs, relink_notes(notes, [&] {
                                           if (++calls == crash_at) mem.crash();
                                       }),
                                       w);
            try {
                while (!job.step()) {
                }
            } catch (const stowage::error& e) {
                BOOST_TEST(died_with_storage(e), e.what());
            }
            if (mem.crashes() == 0) mem.crash();
        }
        database<memory_storage> db(mem);
        notes_t notes(db.storage(), "notes");
        blobs_t blobs(db, whole(), no_grace());
        check_references(notes, blobs);
        // n0 and n1 share one blob whose references move together.
        BOOST_TEST(notes.get("n0")->attachments[0] == notes.get("n1")->attachments[0]);
        cas_gc_job(blobs).step();
        check_references(notes, blobs);
        webp_options w;
        w.method = 0;
        auto again = png_to_webp_job(db, blobs, relink_notes(notes), w);
        while (!again.step()) {
        }
        BOOST_TEST(again.report().rewritten == 2u);  // carried over + this run
        for (const char* id : {"n0", "n1", "n2"})
            BOOST_TEST(is_webp(*blobs.get(digest_from_hex<sha256>(notes.get(id)->attachments[0]))));
        check_references(notes, blobs);
    }
}
