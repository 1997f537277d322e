/* Test plugin: a shared object named like a plugin that exports no
 * spin_plugin_query.  Rejected with "does not export spin_plugin_query()". */
#include <spin/plugin.h>
SPIN_PLUGIN_EXPORT int spin_not_a_query(void);
int spin_not_a_query(void) { return 42; }
