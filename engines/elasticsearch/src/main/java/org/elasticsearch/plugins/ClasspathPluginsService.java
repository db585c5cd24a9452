package org.elasticsearch.plugins;

import org.elasticsearch.common.settings.Settings;

import java.lang.reflect.Constructor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@link PluginsService} that instantiates plugin classes found on the JVM classpath
 * (e.g. Netty4Plugin from transport-netty4) instead of scanning plugin/module directories.
 * Lives in this package because {@link PluginsService.LoadedPlugin} is package-private.
 */
public class ClasspathPluginsService extends PluginsService {
    private final List<LoadedPlugin> classpathPlugins;

    public ClasspathPluginsService(Settings settings, Path configPath, List<Class<? extends Plugin>> pluginClasses) {
        // an empty loader: no module or plugin directories are read, no jar-hell check runs
        super(settings, configPath, PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false));
        List<LoadedPlugin> loaded = new ArrayList<>();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getName(),
                "classpath plugin " + pluginClass.getSimpleName(),
                "NA",
                org.elasticsearch.Build.current().version(),
                "17",
                pluginClass.getName(),
                null,
                List.of(),
                false,
                false,
                false,
                false
            );
            loaded.add(new LoadedPlugin(descriptor, instantiate(pluginClass, settings, configPath), pluginClass.getClassLoader()));
        }
        this.classpathPlugins = List.copyOf(loaded);
        loadExtensions(classpathPlugins);
    }

    private static Plugin instantiate(Class<? extends Plugin> pluginClass, Settings settings, Path configPath) {
        try {
            // plugins may take (Settings, Path), (Settings) or nothing
            for (Constructor<?> constructor : pluginClass.getConstructors()) {
                Class<?>[] types = constructor.getParameterTypes();
                if (types.length == 2 && types[0] == Settings.class && types[1] == Path.class) {
                    return (Plugin) constructor.newInstance(settings, configPath);
                }
                if (types.length == 1 && types[0] == Settings.class) {
                    return (Plugin) constructor.newInstance(settings);
                }
            }
            return pluginClass.getConstructor().newInstance();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot instantiate plugin " + pluginClass.getName(), e);
        }
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }
}
