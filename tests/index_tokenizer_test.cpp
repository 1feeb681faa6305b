// Tests for index/tokenizer.hpp, index/ascii_tokenizer.hpp and
// index/unicode_tokenizer.hpp: the corpus specification's examples, its
// 60 queries' reference tokens, every document of the corpus against a
// Python implementation of the spec (shared_data), and Unicode folding.
#define BOOST_TEST_MODULE index_tokenizer
#include "test_support.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include "stowage/codec/gzip.hpp"
#include "stowage/hash/hex.hpp"
#include "stowage/hash/sha256.hpp"
#include "stowage/index/ascii_tokenizer.hpp"
#include "stowage/index/unicode_tokenizer.hpp"

using namespace stowage;

template <class T>
static std::vector<std::string> tokens(const T& t, std::string_view text, bool filter = true) {
    std::vector<std::string> out;
    t.tokenize(text, [&](std::string_view s) { out.emplace_back(s); }, filter);
    return out;
}
using v = std::vector<std::string>;

BOOST_AUTO_TEST_CASE(ascii_spec_examples) {
    ascii_tokenizer t;
    BOOST_TEST(tokens(t, "naïve") == (v{"na", "ve"}));
    BOOST_TEST(tokens(t, "日本語").empty());
    BOOST_TEST(tokens(t, "json-schema") == (v{"json", "schema"}));
    BOOST_TEST(tokens(t, "PDF Parser") == (v{"pdf", "parser"}));
    BOOST_TEST(tokens(t, "c++").empty());
    BOOST_TEST(tokens(t, "and or but").empty());
    BOOST_TEST(tokens(t, "of the") == (v{"of"}));
    BOOST_TEST(tokens(t, "The a AN tools FOR the web") == (v{"tools", "web"}));
    BOOST_TEST(tokens(t, "pdf2image sha256_hash 3d") == (v{"pdf2image", "sha256", "hash", "3d"}));
    BOOST_TEST(tokens(t, "x_y.z+w'q/r  s\tt") == v{});
    BOOST_TEST(tokens(t, "ab\xff\x80" "cd\x01" "EF") == (v{"ab", "cd", "ef"}));
    BOOST_TEST(tokens(t, "") == v{});
    BOOST_TEST(tokens(t, "ALLCAPS mixedCase lower") == (v{"allcaps", "mixedcase", "lower"}));
    // Unfiltered (prefix queries): short words and stop words stay.
    BOOST_TEST(tokens(t, "the a x", false) == (v{"the", "a", "x"}));
}

BOOST_AUTO_TEST_CASE(stop_words_are_configurable) {
    ascii_tokenizer none(stop_words::none());
    BOOST_TEST(tokens(none, "the web") == (v{"the", "web"}));
    ascii_tokenizer custom(stop_words{"web", "of"}, 3);
    BOOST_TEST(tokens(custom, "the web of dogs") == (v{"the", "dogs"}));
    BOOST_TEST(custom.signature() != ascii_tokenizer().signature());
    BOOST_TEST(ascii_tokenizer().signature() == "ascii;min=2;stop=a,an,and,at,but,for,in,on,or,the,to");
    BOOST_CHECK_THROW(stop_words({"ok", ""}), stowage::error);
    BOOST_CHECK_THROW(ascii_tokenizer(stop_words::none(), 0), stowage::error);
}

BOOST_AUTO_TEST_CASE(unicode_folds_latin_and_keeps_other_scripts) {
    unicode_tokenizer t;
    BOOST_TEST(tokens(t, "naïve Naïve NAÏVE") == (v{"naive", "naive", "naive"}));
    BOOST_TEST(tokens(t, "nai\xcc\x88ve") == (v{"naive"}));  // combining diaeresis
    BOOST_TEST(tokens(t, "日本語") == (v{"日本語"}));
    BOOST_TEST(tokens(t, "日本語のテキスト") == (v{"日本語のテキスト"}));
    BOOST_TEST(tokens(t, "Straße Æsir Øre łódź") == (v{"strasse", "aesir", "ore", "lodz"}));
    BOOST_TEST(tokens(t, "ＰＤＦ ﬁle") == (v{"pdf", "file"}));
    BOOST_TEST(tokens(t, "Ελλάδα ΣΟΦΊΑ") == (v{"ελλάδα", "σοφία"}));
    BOOST_TEST(tokens(t, "Москва МОСКВА") == (v{"москва", "москва"}));
    BOOST_TEST(tokens(t, "co\xc2\xad" "operate") == (v{"cooperate"}));  // soft hyphen joins
    BOOST_TEST(tokens(t, "emoji😀here") == (v{"emoji", "here"}));
    BOOST_TEST(tokens(t, "the x 日 ab") == (v{"日", "ab"}));  // one ideograph is a word; one ASCII letter is not
    BOOST_TEST(tokens(t, "bad\xff\xfe utf8 \xc3") == (v{"bad", "utf8"}));
    BOOST_TEST(tokens(t, "\xed\xa0\x80surrogate \xc0\xafoverlong") == (v{"surrogate", "overlong"}));
    BOOST_TEST(tokens(t, "हिन्दी") == (v{"हिन्दी"}));  // marks after non-Latin letters are kept
    BOOST_TEST(tokens(t, "C++ json-schema") == (v{"json", "schema"}));
    BOOST_TEST(tokens(t, "É", false) == (v{"e"}));
}

// The reference tokens column of queries.tsv.
BOOST_AUTO_TEST_CASE(corpus_query_tokens, *boost::unit_test::label("shared_data")) {
    auto dir = stowage::test::shared_data("text");
    std::ifstream in(dir / "queries.tsv");
    std::string line;
    std::getline(in, line);
    ascii_tokenizer t;
    int rows = 0;
    while (std::getline(in, line)) {
        auto a = line.find('\t'), b = line.find('\t', a + 1);
        std::string query = line.substr(a + 1, b - a - 1), expected = line.substr(b + 1);
        std::vector<std::string> got;
        for (auto& tok : tokens(t, query))
            if (std::find(got.begin(), got.end(), tok) == got.end()) got.push_back(tok);
        std::string joined;
        for (auto& g : got) joined += (joined.empty() ? "" : " ") + g;
        BOOST_TEST(joined == expected, line.substr(0, a) << " " << query);
        ++rows;
    }
    BOOST_TEST(rows == 60);
}

// Every document's token set equals the Python reference of the spec
// (re.split(rb'[^a-z0-9]+', bytes.lower())), compared by a digest per line.
BOOST_AUTO_TEST_CASE(corpus_documents_match_python, *boost::unit_test::label("shared_data")) {
    auto dir = stowage::test::shared_data("text");
    auto file = (dir / "pypi_docs.tsv.gz").string();
    std::string script =
        "import gzip,re,sys,hashlib\n"
        "stop=set(b'the a an and or but in on at to for'.split())\n"
        "h=hashlib.sha256()\n"
        "for line in gzip.open(sys.argv[1]):\n"
        "  i,n,s=line.rstrip(b'\\n').split(b'\\t')\n"
        "  toks=sorted(set(t for t in re.split(rb'[^a-z0-9]+',(n+b' '+s).lower()) if len(t)>=2 and t not in stop))\n"
        "  h.update(i+b':'+b' '.join(toks)+b'\\n')\n"
        "print(h.hexdigest())\n";
    stowage::test::scratch_dir tmp("tok");
    std::ofstream(tmp.path() / "ref.py") << script;
    auto [rc, out] = stowage::test::run("python3 " + (tmp.path() / "ref.py").string() + " " + file);
    BOOST_REQUIRE(rc == 0);
    std::ifstream gz(file, std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(gz)), {});
    bytes text = gzip_decompress(as_bytes(raw));
    std::string_view all = as_chars(text);
    ascii_tokenizer t;
    std::string digest_input;
    std::size_t docs = 0;
    while (!all.empty()) {
        auto nl = all.find('\n');
        std::string_view line = all.substr(0, nl);
        all = nl == std::string_view::npos ? std::string_view{} : all.substr(nl + 1);
        auto a = line.find('\t'), b = line.find('\t', a + 1);
        std::set<std::string> set;
        t.tokenize(line.substr(a + 1, b - a - 1), [&](std::string_view s) { set.emplace(s); });
        t.tokenize(line.substr(b + 1), [&](std::string_view s) { set.emplace(s); });
        digest_input += line.substr(0, a);
        digest_input += ':';
        bool first = true;
        for (auto& s : set) {
            if (!first) digest_input += ' ';
            digest_input += s;
            first = false;
        }
        digest_input += '\n';
        ++docs;
    }
    BOOST_TEST(docs == 200000u);
    BOOST_TEST(to_hex(hash_of<sha256>(as_bytes(digest_input))) + "\n" == out);
}
