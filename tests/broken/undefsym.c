/* Test plugin: references a symbol nobody defines.  dlopen(RTLD_NOW) fails;
 * the loader warns with dlerror()'s text naming the symbol. */
#include <spin/plugin.h>
extern int spin_test_symbol_nobody_defines(void);
SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);
const spin_plugin_desc_t *spin_plugin_query(void)
{
    return spin_test_symbol_nobody_defines() ? NULL : NULL;
}
