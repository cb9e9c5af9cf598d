// The fault tests' runner: Catch2, then every scenario's figures in one table.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "scenario.hpp"

int main(int argc, char** argv)
{
    int failed = Catch::Session().run(argc, argv);
    if (!fault::all_rows().empty()) {
        std::printf("\nFault figures (seed %llu%s):", static_cast<unsigned long long>(fault::seed()), fault::soak() ? ", soak" : "");
        fault::print_table(fault::all_rows());
    }
    return failed;
}
