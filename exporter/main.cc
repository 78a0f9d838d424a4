// The only untested glue: everything lives in drift::exporter and is tested there.
#include "exporter/cli.h"

int main(int argc, char** argv) { return drift::exporter::RunCli(argc, argv); }
