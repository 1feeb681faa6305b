// image/webp.hpp — lossy PNG -> WebP conversion of image attachments (the
// seed app measured 20-40% savings on screenshots), as a function and as a
// maintenance job over a cas_map.
//
//   bytes w = stowage::png_to_webp(png, {.quality = 80});
//
//   // every referenced PNG blob becomes WebP; references move in one transaction
//   q.add_job("webp", stowage::png_to_webp_job(db, blobs,
//       [&](auto& tx, const cas_ref& r, const std::string& from, const std::string& to) {
//           auto s = tx.get(sessions, r.owner);
//           std::replace(s->attachments.begin(), s->attachments.end(), from, to);
//           tx.put(sessions, *s);
//       }, {.quality = 80}));
//
// Needs libpng (decoding, through its simplified png_image API) and libwebp
// (encoding): link the CMake target stowage::webp, which exists only where
// both are installed, so clients without them are unaffected by this
// header. Conversion keeps the pixels (alpha included) at 8 bits per
// channel in sRGB; colour profiles and other PNG metadata are dropped, and
// animated PNGs (an acTL chunk) are left alone, since only their first
// frame would survive.
//
// Thread safety: png_to_webp and friends are pure functions. The job is a
// cas_rewrite_job (maintenance.hpp). Durability: that of the job.
#pragma once

#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../bytes.hpp"
#include "../error.hpp"
#include "../maintenance.hpp"

namespace stowage {

struct webp_options {
    float quality = 80;        // 0 (smallest) .. 100 (best), lossy
    int method = 4;            // 0 (fastest) .. 6 (smallest)
    float alpha_quality = 100;  // 0 .. 100, for images with transparency
    // Larger images are left alone (WebP's own limit is 16383 x 16383).
    std::uint64_t max_pixels = 64u << 20;
};

// 8-bit RGBA pixels, rows top to bottom, no padding.
struct rgba_image {
    std::uint32_t width = 0, height = 0;
    std::vector<std::uint8_t> pixels;  // width * height * 4
    bool has_alpha = false;            // the source had transparency
};

inline constexpr std::uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};

inline bool is_png(bytes_view head) noexcept {
    return head.size() >= 8 && std::memcmp(head.data(), png_signature, 8) == 0;
}

inline bool is_webp(bytes_view head) noexcept {
    return head.size() >= 12 && std::memcmp(head.data(), "RIFF", 4) == 0 && std::memcmp(head.data() + 8, "WEBP", 4) == 0;
}

// Whether a PNG is animated (APNG: an acTL chunk before the first IDAT).
// Walks the chunk headers only; a truncated stream answers false.
inline bool is_animated_png(bytes_view png) noexcept {
    if (!is_png(png)) return false;
    std::size_t pos = 8;
    while (png.size() - pos >= 8) {
        std::uint64_t length = 0;
        for (int i = 0; i < 4; ++i) length = (length << 8) | std::to_integer<std::uint8_t>(png[pos + static_cast<std::size_t>(i)]);
        const auto* type = reinterpret_cast<const char*>(png.data() + pos + 4);
        if (std::memcmp(type, "acTL", 4) == 0) return true;
        if (std::memcmp(type, "IDAT", 4) == 0) return false;
        if (length > png.size() - pos - 8) return false;
        pos += 12 + static_cast<std::size_t>(length);  // length, type, data, CRC
        if (pos > png.size()) return false;
    }
    return false;
}

// Decodes any PNG (palette, grey, 16-bit, interlaced) to 8-bit RGBA.
// errc::corrupt names what libpng found wrong; errc::unsupported when the
// image has more than max_pixels pixels (checked before allocating them).
inline rgba_image decode_png(bytes_view png, std::uint64_t max_pixels = 64u << 20) {
    if (!is_png(png)) throw error(errc::corrupt, "png: missing PNG signature");
    png_image image;
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    struct guard {
        png_image* image;
        ~guard() { png_image_free(image); }
    } g{&image};
    if (!png_image_begin_read_from_memory(&image, png.data(), png.size()))
        throw error(errc::corrupt, std::string("png: ") + image.message);
    if (image.width == 0 || image.height == 0) throw error(errc::corrupt, "png: empty image");
    if (std::uint64_t(image.width) * image.height > max_pixels)
        throw error(errc::unsupported, "png: " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                                           " is more than " + std::to_string(max_pixels) + " pixels");
    rgba_image out;
    out.width = image.width;
    out.height = image.height;
    out.has_alpha = (image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    image.format = PNG_FORMAT_RGBA;
    out.pixels.resize(PNG_IMAGE_SIZE(image));
    if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr))
        throw error(errc::corrupt, std::string("png: ") + image.message);
    return out;
}

// Encodes 8-bit RGBA as a PNG (lossless; for tests and tools).
inline bytes encode_png(const rgba_image& img) {
    if (img.width == 0 || img.height == 0 || img.pixels.size() != std::size_t(img.width) * img.height * 4)
        throw error(errc::bad_input, "png: pixel buffer does not match the image size");
    png_image image;
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = img.width;
    image.height = img.height;
    image.format = img.has_alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
    struct guard {
        png_image* image;
        ~guard() { png_image_free(image); }
    } g{&image};
    std::vector<std::uint8_t> rgb;
    const void* src = img.pixels.data();
    if (!img.has_alpha) {  // drop the unused alpha channel: a smaller PNG
        rgb.reserve(std::size_t(img.width) * img.height * 3);
        for (std::size_t i = 0; i < img.pixels.size(); i += 4) rgb.insert(rgb.end(), &img.pixels[i], &img.pixels[i] + 3);
        src = rgb.data();
    }
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&image, nullptr, &size, 0, src, 0, nullptr))
        throw error(errc::bad_input, std::string("png: ") + image.message);
    bytes out(size);
    if (!png_image_write_to_memory(&image, out.data(), &size, 0, src, 0, nullptr))
        throw error(errc::bad_input, std::string("png: ") + image.message);
    out.resize(size);
    return out;
}

// Decodes a WebP to RGBA (to check a conversion). errc::corrupt when it is not one.
inline rgba_image decode_webp(bytes_view webp) {
    int w = 0, h = 0;
    if (!WebPGetInfo(reinterpret_cast<const std::uint8_t*>(webp.data()), webp.size(), &w, &h))
        throw error(errc::corrupt, "webp: not a WebP image");
    std::unique_ptr<std::uint8_t, void (*)(void*)> px(
        WebPDecodeRGBA(reinterpret_cast<const std::uint8_t*>(webp.data()), webp.size(), &w, &h), WebPFree);
    if (!px) throw error(errc::corrupt, "webp: decoding failed");
    WebPBitstreamFeatures features;
    rgba_image out;
    out.width = static_cast<std::uint32_t>(w);
    out.height = static_cast<std::uint32_t>(h);
    out.has_alpha = WebPGetFeatures(reinterpret_cast<const std::uint8_t*>(webp.data()), webp.size(), &features) ==
                        VP8_STATUS_OK && features.has_alpha;
    out.pixels.assign(px.get(), px.get() + std::size_t(w) * std::size_t(h) * 4);
    return out;
}

// Lossy WebP of an RGBA image. errc::bad_input for options out of range or
// an image WebP cannot hold (more than 16383 pixels a side).
inline bytes encode_webp(const rgba_image& img, const webp_options& o = {}) {
    if (!(o.quality >= 0 && o.quality <= 100) || o.method < 0 || o.method > 6 ||
        !(o.alpha_quality >= 0 && o.alpha_quality <= 100))
        throw error(errc::bad_input, "webp: quality and alpha_quality must be within 0..100, method within 0..6");
    if (img.width == 0 || img.height == 0 || img.pixels.size() != std::size_t(img.width) * img.height * 4)
        throw error(errc::bad_input, "webp: pixel buffer does not match the image size");
    if (img.width > WEBP_MAX_DIMENSION || img.height > WEBP_MAX_DIMENSION)
        throw error(errc::bad_input, "webp: " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                                         " exceeds WebP's 16383 pixels a side");
    WebPConfig config;
    if (!WebPConfigInit(&config)) throw error(errc::unsupported, "webp: libwebp version mismatch");
    config.quality = o.quality;
    config.method = o.method;
    config.alpha_quality = static_cast<int>(o.alpha_quality);
    if (!WebPValidateConfig(&config)) throw error(errc::bad_input, "webp: invalid encoder configuration");
    WebPPicture pic;
    if (!WebPPictureInit(&pic)) throw error(errc::unsupported, "webp: libwebp version mismatch");
    WebPMemoryWriter writer;
    WebPMemoryWriterInit(&writer);
    struct guard {
        WebPPicture* pic;
        WebPMemoryWriter* writer;
        ~guard() {
            WebPPictureFree(pic);
            WebPMemoryWriterClear(writer);
        }
    } g{&pic, &writer};
    pic.use_argb = 1;
    pic.width = static_cast<int>(img.width);
    pic.height = static_cast<int>(img.height);
    int ok = img.has_alpha ? WebPPictureImportRGBA(&pic, img.pixels.data(), static_cast<int>(img.width * 4))
                           : WebPPictureImportRGBX(&pic, img.pixels.data(), static_cast<int>(img.width * 4));
    if (!ok) throw std::bad_alloc();
    pic.writer = WebPMemoryWrite;
    pic.custom_ptr = &writer;
    if (!WebPEncode(&config, &pic)) {
        if (pic.error_code == VP8_ENC_ERROR_OUT_OF_MEMORY) throw std::bad_alloc();
        throw error(errc::io, "webp: encoding failed (libwebp error " + std::to_string(int(pic.error_code)) + ")");
    }
    const auto* begin = reinterpret_cast<const std::byte*>(writer.mem);
    return bytes(begin, begin + writer.size);
}

// PNG in, lossy WebP out. errc::corrupt for a malformed PNG,
// errc::unsupported for an animated or too large one.
inline bytes png_to_webp(bytes_view png, const webp_options& o = {}) {
    if (is_animated_png(png)) throw error(errc::unsupported, "png: animated PNG (only its first frame would survive)");
    auto img = decode_png(png, o.max_pixels);
    if (img.width > WEBP_MAX_DIMENSION || img.height > WEBP_MAX_DIMENSION)
        throw error(errc::unsupported, "png: " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                                           " exceeds WebP's 16383 pixels a side");
    return encode_webp(img, o);
}

// The maintenance job: every referenced PNG blob of `cas` that WebP at
// `o.quality` shrinks by options.min_saving is stored as WebP and its
// references moved (see cas_rewrite_job). Animated and oversized PNGs are
// left alone; malformed ones are skipped and listed in the report.
template <class Cas, storage Storage, class Relink>
cas_rewrite_job<Cas, Storage> png_to_webp_job(database<Storage>& db, Cas& cas, Relink relink, webp_options o = {},
                                              cas_rewrite_options options = {}) {
    if (options.name == cas_rewrite_options{}.name) options.name = "png-to-webp";
    cas_rewrite_hooks<Storage> hooks;
    hooks.sniff = [](bytes_view head) { return is_png(head); };
    hooks.convert = [o](bytes_view png) -> std::optional<bytes> {
        try {
            return png_to_webp(png, o);
        } catch (const error& e) {
            if (e.kind() == errc::unsupported) return std::nullopt;
            throw;
        }
    };
    hooks.relink = std::move(relink);
    return cas_rewrite_job<Cas, Storage>(db, cas, std::move(hooks), std::move(options));
}

}  // namespace stowage
