// A client's program: includes the umbrella header through stowage::stowage
// and checks that the library works (exit 0) — built by run.sh both ways.
#include <stowage/stowage.hpp>

#include <iostream>

int main() {
    const auto hex = stowage::to_hex(stowage::hash_of<stowage::sha256>("abc"));
    if (hex != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") {
        std::cerr << "consumer: wrong sha256(\"abc\"): " << hex << "\n";
        return 1;
    }
    try {
        (void)stowage::digest_from_hex<stowage::sha256>("zz");
        std::cerr << "consumer: bad hex accepted\n";
        return 1;
    } catch (const stowage::error& e) {
        if (e.kind() != stowage::errc::bad_input) return 1;
    }
    std::cout << "consumer ok: sha256(abc) = " << hex << "\n";
    return 0;
}
