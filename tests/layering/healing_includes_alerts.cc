// Must not compile: healing/ parses the webhook message that alerts/ renders, through the model
// both share in common/, and knows nothing of alerts/ itself.
#include "healing/webhook.h"

// The forbidden include:
#include "alerts/alert.h"
