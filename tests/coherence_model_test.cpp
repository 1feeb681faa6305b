// Issue 21: a randomized model test of coherence. Random steps mix every
// write path (store put / put_many / erase, multi-write transactions,
// rollbacks, db.update, the persistence queue, raw record writes) with an
// attached index and a cached_store; after each step, every search answer
// equals a brute-force scan of the collection and every cached read equals
// a storage read. Rounds run in a child process that is killed with
// SIGKILL at a random moment (usually in the middle of a commit); the
// parent reopens the directory and checks the same, plus verify(). Some
// rounds write without constructing the index (another program), so the
// index must catch up from the journal. STOWAGE_STRESS=1 runs 20 times
// more rounds.
#define BOOST_TEST_MODULE coherence_model
#include "test_support.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "stowage/cached_store.hpp"
#include "stowage/database.hpp"
#include "stowage/inverted_index.hpp"
#include "stowage/persistence_queue.hpp"
#include "stowage/storage/file.hpp"

using namespace stowage;

namespace coherence_model {

struct card {
    std::string id;
    std::string title;
    std::string body;
    bool operator==(const card&) const = default;
};
STOWAGE_DESCRIBE(card, id, title, body)

using cards_t = db_store<card, file_storage>;
using search_t = inverted_index<cards_t, unicode_tokenizer>;
using cache_t = entity_cache<cards_t>;

const std::vector<std::string> words = {"amber", "birch", "cedar", "dune", "ember", "fjord", "grove", "heron"};

index_schema card_schema() {
    index_schema s;
    s.text("title").text("body");
    return s;
}

std::string random_text(std::mt19937_64& rng) {
    std::string t;
    for (std::uint64_t n = 1 + rng() % 3; n > 0; --n) t += (t.empty() ? "" : " ") + words[rng() % words.size()];
    return t;
}

card random_card(std::mt19937_64& rng) {
    return {"c" + std::to_string(rng() % 40), random_text(rng), random_text(rng)};
}

// "" when the search answers and the cache agree with the collection, else
// what differs.
std::string check(const search_t& search, const cards_t& cards, cache_t* hot, cached_store<cards_t, cache_t>* view,
                  std::mt19937_64& rng) {
    std::map<std::string, std::vector<std::string>> expected;
    for (const auto& c : cards) {
        for (const auto& text : {c.title, c.body}) {
            std::istringstream in(text);
            std::string w;
            while (in >> w) expected[w].push_back(c.id);
        }
    }
    for (auto& [w, ids] : expected) {
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    }
    for (const auto& w : words) {
        auto found = search.search(text_query::words(w));
        std::sort(found.begin(), found.end());
        if (found != expected[w]) {
            std::string why = "search \"" + w + "\": index has";
            for (auto& f : found) why += " " + f;
            why += "; collection has";
            for (auto& e : expected[w]) why += " " + e;
            return why;
        }
    }
    if (view) {
        (void)hot;
        for (int k = 0; k < 8; ++k) {
            std::string id = "c" + std::to_string(rng() % 40);
            auto cached = view->get(id);
            auto stored = cards.get(id);
            if (static_cast<bool>(cached) != stored.has_value() || (cached && !(*cached == *stored)))
                return "cache of " + id + " differs from storage";
        }
    }
    return {};
}

// One random write through one of the paths.
void step(database<file_storage>& db, cards_t& cards, persistence_queue<file_storage>& queue,
          cached_store<cards_t, cache_t>& view, std::mt19937_64& rng) {
    switch (rng() % 9) {
        case 0: cards.put(random_card(rng)); break;
        case 1: {
            std::vector<card> batch;
            for (std::uint64_t n = 1 + rng() % 4; n > 0; --n) batch.push_back(random_card(rng));
            std::sort(batch.begin(), batch.end(), [](auto& a, auto& b) { return a.id < b.id; });
            batch.erase(std::unique(batch.begin(), batch.end(), [](auto& a, auto& b) { return a.id == b.id; }), batch.end());
            cards.put_many(batch);
            break;
        }
        case 2: cards.erase("c" + std::to_string(rng() % 40)); break;
        case 3: {
            db.run_transaction([&](db_transaction<file_storage>& tx) {
                for (std::uint64_t n = 1 + rng() % 3; n > 0; --n) {
                    if (rng() % 3 == 0) tx.erase(cards, "c" + std::to_string(rng() % 40));
                    else tx.put(cards, random_card(rng));
                }
            });
            break;
        }
        case 4: {
            auto tx = db.transaction();
            tx.put(cards, random_card(rng));
            tx.rollback();
            break;
        }
        case 5: {
            std::string id = "c" + std::to_string(rng() % 40);
            if (cards.contains(id)) db.update(cards, id, [&](card& c) { c.body = random_text(rng); });
            break;
        }
        case 6: {
            queue.enqueue_put(cards, random_card(rng), std::nullopt);  // fails (conflict) when it exists: fine
            queue.enqueue_update(cards, "c" + std::to_string(rng() % 40), [&, t = random_text(rng)](std::optional<card>& c) {
                if (c) c->title = t;
            });
            if (rng() % 2) queue.enqueue_erase(cards, "c" + std::to_string(rng() % 40));
            queue.flush();
            break;
        }
        case 7: view.put(random_card(rng)); break;
        case 8: {
            // A record written by something that is not a store (no id
            // travels with it): the index must rebuild. The store's
            // in-memory listing does not see such a write either, so it
            // only replaces an existing record (as a repair would).
            card c = random_card(rng);
            if (!cards.contains(c.id)) break;
            db.storage().replace(cards.key_of(c.id), cards.make_record(c.id, c, project<json_document>(c), 0),
                                 durability::full);
            break;
        }
    }
}

}  // namespace coherence_model

using namespace coherence_model;

BOOST_AUTO_TEST_CASE(every_step_coherent_in_process) {
    stowage::test::scratch_dir dir("coherence-steps");
    std::mt19937_64 rng(stowage::test::test_seed());
    database<file_storage> db{file_storage(dir.path())};
    cards_t cards(db.storage(), "cards");
    search_t search(db, cards, "cards_index", card_schema());
    cache_t hot(64);
    cached_store view(cards, hot);
    persistence_queue<file_storage> queue(db);
    const int steps = stowage::test::stress_enabled() ? 4000 : 300;
    for (int i = 0; i < steps; ++i) {
        step(db, cards, queue, view, rng);
        auto why = check(search, cards, &hot, &view, rng);
        BOOST_TEST_REQUIRE(why.empty(), "after step " << i << ": " << why);
    }
    BOOST_TEST(search.verify().ok());
}

BOOST_AUTO_TEST_CASE(killed_writers_leave_index_and_collection_agreeing) {
    stowage::test::scratch_dir dir("coherence-kill");
    const auto path = dir.path() / "data";
    const auto failure = dir.path() / "child-failure";
    std::mt19937_64 rng(stowage::test::test_seed() + 1);
    const int rounds = stowage::test::stress_enabled() ? 200 : 10;
    for (int round = 0; round < rounds; ++round) {
        const bool with_index = round % 3 != 2;  // every third round: a program without the index
        const std::uint64_t child_seed = rng();
        int fds[2];
        BOOST_TEST_REQUIRE(::pipe(fds) == 0);
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(fds[0]);
            try {
                std::mt19937_64 crng(child_seed);
                database<file_storage> db{file_storage(path)};
                cards_t cards(db.storage(), "cards");
                std::optional<search_t> search;
                if (with_index) search.emplace(db, cards, "cards_index", card_schema());
                cache_t hot(64);
                cached_store view(cards, hot);
                persistence_queue<file_storage> queue(db);
                for (int i = 0;; ++i) {
                    step(db, cards, queue, view, crng);
                    if (search) {
                        auto why = check(*search, cards, &hot, &view, crng);
                        if (!why.empty()) {
                            std::ofstream(failure) << "round " << round << " step " << i << ": " << why << "\n";
                            std::_Exit(1);
                        }
                    }
                    if (i == 0 && ::write(fds[1], "s", 1) < 0) std::_Exit(3);
                }
            } catch (const std::exception& e) {
                std::ofstream(failure) << "round " << round << ": " << e.what() << "\n";
                std::_Exit(2);
            }
        }
        ::close(fds[1]);
        char c;
        if (round % 2) (void)::read(fds[0], &c, 1);  // half the rounds: kill only after a first step
        ::usleep(static_cast<useconds_t>(2000 + rng() % 80000));
        ::kill(pid, SIGKILL);
        ::close(fds[0]);
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (std::filesystem::exists(failure)) {
            std::ifstream in(failure);
            std::string what((std::istreambuf_iterator<char>(in)), {});
            BOOST_FAIL("the child found an incoherence: " << what);
        }
        BOOST_TEST_REQUIRE(WIFSIGNALED(status), "child exited by itself with " << WEXITSTATUS(status));

        // Reopened: the index catches up from the journal the killed
        // process left (and any rebuild it asked for).
        database<file_storage> db{file_storage(path)};
        cards_t cards(db.storage(), "cards");
        search_t search(db, cards, "cards_index", card_schema());
        auto why = check(search, cards, nullptr, nullptr, rng);
        BOOST_TEST_REQUIRE(why.empty(), "after round " << round << " (" << (with_index ? "with" : "without")
                                                       << " the index): " << why);
        BOOST_TEST_REQUIRE(search.behind() == 0u);
        auto v = search.verify();
        BOOST_TEST_REQUIRE(v.ok(), "round " << round << ": verify: " << v.missing.size() << " missing, " << v.stale.size()
                                            << " stale, " << v.differ.size() << " differ");
    }
}
