// codec/detail/chrono_form.hpp — the stored forms of std::chrono values.
//
// A duration or a system_clock time point is held as (seconds, nanoseconds)
// — seconds rounded down, nanoseconds in [0, 10^9) — whatever the C++ unit,
// so a record stays readable when a field changes from milliseconds to
// nanoseconds, and nothing is rounded: a value more precise than the
// field's unit, or out of its range, is refused when read.
//   binary   zigzag varint seconds, varint nanoseconds
//   JSON     time point: RFC 3339 in UTC, "2026-12-07T22:20:28.25Z" (the
//            fraction only as long as needed); readers also take offsets
//            ("+01:00") and lower-case "t"/"z"
//            duration: seconds as a plain decimal number, 90, -1.5,
//            0.000000001 (no exponent)
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <ratio>
#include <string>
#include <string_view>

namespace stowage::detail {

__extension__ using chrono_wide = __int128;

inline constexpr std::int64_t nanos_per_second = 1'000'000'000;

template <class Out>
void chrono_put(Out& out, char c) {
    out.push_back(static_cast<typename Out::value_type>(c));
}

struct seconds_nanos {
    std::int64_t seconds = 0;
    std::uint32_t nanos = 0;  // [0, 10^9)
};

// Nanoseconds per tick of D (D's period is a whole number of nanoseconds).
template <class D>
inline constexpr std::int64_t chrono_unit_nanos = std::ratio_divide<typename D::period, std::nano>::num;

template <class D>
chrono_wide chrono_total_nanos(D d) {
    return static_cast<chrono_wide>(d.count()) * chrono_unit_nanos<D>;
}

// nullopt when the seconds do not fit 64 bits (only for units coarser than
// a second with counts near their limit).
inline std::optional<seconds_nanos> split_nanos(chrono_wide total) {
    chrono_wide s = total / nanos_per_second;
    chrono_wide n = total % nanos_per_second;
    if (n < 0) n += nanos_per_second, s -= 1;
    if (s < std::numeric_limits<std::int64_t>::min() || s > std::numeric_limits<std::int64_t>::max()) return std::nullopt;
    return seconds_nanos{static_cast<std::int64_t>(s), static_cast<std::uint32_t>(n)};
}

inline chrono_wide join_nanos(seconds_nanos v) {
    return static_cast<chrono_wide>(v.seconds) * nanos_per_second + v.nanos;
}

// The D holding exactly `total` nanoseconds; nullptr on success, else why not.
template <class D>
const char* chrono_from_nanos(chrono_wide total, D& out) {
    constexpr std::int64_t unit = chrono_unit_nanos<D>;
    if (total % unit != 0) return "more precise than the field's unit";
    const chrono_wide count = total / unit;
    using rep = typename D::rep;
    if (count < static_cast<chrono_wide>(std::numeric_limits<rep>::min()) ||
        count > static_cast<chrono_wide>(std::numeric_limits<rep>::max()))
        return "out of the field's range";
    out = D(static_cast<rep>(count));
    return nullptr;
}

// Digits after the decimal point D's unit needs (0 for seconds and coarser).
template <class D>
constexpr int chrono_fraction_digits() {
    std::int64_t unit = chrono_unit_nanos<D>;
    int digits = 9;
    while (digits > 0 && unit % 10 == 0) unit /= 10, --digits;
    return digits;
}

// ".25" for 250000000 ns (trailing zeros dropped); nothing for 0.
template <class Out>
void append_nanos_fraction(Out& out, std::uint32_t nanos) {
    if (nanos == 0) return;
    char digits[9];
    for (int i = 8; i >= 0; --i) digits[i] = static_cast<char>('0' + nanos % 10), nanos /= 10;
    int n = 9;
    while (digits[n - 1] == '0') --n;
    chrono_put(out, '.');
    for (int i = 0; i < n; ++i) chrono_put(out, digits[i]);
}

template <class Out>
void append_decimal(Out& out, std::uint64_t v, int width = 0) {
    char buf[24];
    int n = 0;
    do buf[n++] = static_cast<char>('0' + v % 10), v /= 10;
    while (v);
    for (int i = n; i < width; ++i) chrono_put(out, '0');
    while (n) chrono_put(out, buf[--n]);
}

// RFC 3339 UTC text; nullptr on success, else why it cannot be written.
template <class Out>
const char* append_rfc3339(Out& out, seconds_nanos v) {
    using namespace std::chrono;
    std::int64_t d = v.seconds / 86400, sod = v.seconds % 86400;
    if (sod < 0) sod += 86400, d -= 1;
    if (d < -719528 || d > 2932896) return "outside the years 0000 to 9999 that RFC 3339 can write";
    const year_month_day ymd{sys_days{days{d}}};
    append_decimal(out, static_cast<std::uint64_t>(static_cast<int>(ymd.year())), 4);
    chrono_put(out, '-');
    append_decimal(out, static_cast<unsigned>(ymd.month()), 2);
    chrono_put(out, '-');
    append_decimal(out, static_cast<unsigned>(ymd.day()), 2);
    chrono_put(out, 'T');
    append_decimal(out, static_cast<std::uint64_t>(sod / 3600), 2);
    chrono_put(out, ':');
    append_decimal(out, static_cast<std::uint64_t>(sod / 60 % 60), 2);
    chrono_put(out, ':');
    append_decimal(out, static_cast<std::uint64_t>(sod % 60), 2);
    append_nanos_fraction(out, v.nanos);
    chrono_put(out, 'Z');
    return nullptr;
}

// Reads up to 9 fraction digits after a '.' at text[pos]; digits past the
// ninth must be zero. Advances pos. nullptr on success.
inline const char* read_nanos_fraction(std::string_view text, std::size_t& pos, std::uint32_t& nanos) {
    nanos = 0;
    if (pos >= text.size() || text[pos] != '.') return nullptr;
    ++pos;
    int n = 0;
    const std::size_t start = pos;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++n) {
        if (n < 9) nanos = nanos * 10 + static_cast<std::uint32_t>(text[pos] - '0');
        else if (text[pos] != '0') return "more precise than nanoseconds";
    }
    if (pos == start) return "a '.' without digits";
    for (; n < 9; ++n) nanos *= 10;
    return nullptr;
}

// Parses RFC 3339 ("2026-12-07T22:20:28.25Z", "...+01:00"). nullptr on success.
inline const char* parse_rfc3339(std::string_view t, seconds_nanos& out) {
    using namespace std::chrono;
    constexpr const char* form = "expected an RFC 3339 time such as 2026-12-07T22:20:28Z";
    auto num = [&](std::size_t at, std::size_t len, int& v) {
        if (at + len > t.size()) return false;
        v = 0;
        for (std::size_t i = at; i < at + len; ++i) {
            if (t[i] < '0' || t[i] > '9') return false;
            v = v * 10 + (t[i] - '0');
        }
        return true;
    };
    int y, mo, d, h, mi, s;
    if (!num(0, 4, y) || t.size() < 19 || t[4] != '-' || !num(5, 2, mo) || t[7] != '-' || !num(8, 2, d) ||
        (t[10] != 'T' && t[10] != 't') || !num(11, 2, h) || t[13] != ':' || !num(14, 2, mi) || t[16] != ':' ||
        !num(17, 2, s))
        return form;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || mi > 59) return "not a valid date and time";
    if (s == 60) return "a leap second (:60) is not representable";
    if (s > 59) return "not a valid date and time";
    std::size_t pos = 19;
    std::uint32_t nanos = 0;
    if (const char* why = read_nanos_fraction(t, pos, nanos)) return why;
    std::int64_t offset = 0;
    if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
        ++pos;
    } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
        int oh, om;
        if (!num(pos + 1, 2, oh) || pos + 3 >= t.size() || t[pos + 3] != ':' || !num(pos + 4, 2, om) || oh > 23 || om > 59)
            return form;
        offset = (t[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
        pos += 6;
    } else {
        return "expected Z or an offset such as +01:00 after the time";
    }
    if (pos != t.size()) return form;
    const std::int64_t days_since = sys_days{ymd}.time_since_epoch().count();
    out.seconds = days_since * 86400 + h * 3600 + mi * 60 + s - offset;
    out.nanos = nanos;
    return nullptr;
}

// Seconds as a plain decimal: "90", "-1.5", "0.000000001".
template <class Out>
void append_decimal_seconds(Out& out, chrono_wide total) {
    const bool negative = total < 0;
    const chrono_wide a = negative ? -total : total;
    if (negative) chrono_put(out, '-');
    const chrono_wide whole = a / nanos_per_second;
    // whole < 2^127 / 10^9 < 10^30: printed in two parts below 10^19.
    const std::uint64_t high = static_cast<std::uint64_t>(whole / 10'000'000'000'000'000'000ull);
    const std::uint64_t low = static_cast<std::uint64_t>(whole % 10'000'000'000'000'000'000ull);
    if (high) append_decimal(out, high), append_decimal(out, low, 19);
    else append_decimal(out, low);
    append_nanos_fraction(out, static_cast<std::uint32_t>(a % nanos_per_second));
}

// Parses a JSON number token written as plain decimal seconds into
// nanoseconds. nullptr on success.
inline const char* parse_decimal_seconds(std::string_view t, chrono_wide& total) {
    std::size_t pos = 0;
    const bool negative = pos < t.size() && t[pos] == '-';
    if (negative) ++pos;
    chrono_wide whole = 0;
    const std::size_t start = pos;
    for (; pos < t.size() && t[pos] >= '0' && t[pos] <= '9'; ++pos) {
        whole = whole * 10 + (t[pos] - '0');
        if (whole > chrono_wide(1) << 80) return "out of range";
    }
    if (pos == start) return "expected seconds as a decimal number";
    std::uint32_t nanos = 0;
    if (const char* why = read_nanos_fraction(t, pos, nanos)) return why;
    if (pos != t.size()) return "write a duration as plain decimal seconds (no exponent)";
    total = whole * nanos_per_second + nanos;
    if (negative) total = -total;
    return nullptr;
}

}  // namespace stowage::detail
