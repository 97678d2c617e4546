package dev.peft4j;

import java.nio.file.Path;
import java.nio.file.Paths;

/** Locates the committed golden fixtures (made by scripts/golden/*.py) on the test classpath. */
public final class Golden {
    private Golden() {}

    /** The directory of golden model NAME (config.json, model.safetensors, expected.json). */
    public static Path model(String name) {
        return resource("/golden/models/" + name + "/config.json").getParent();
    }

    public static Path resource(String path) {
        try {
            var url = Golden.class.getResource(path);
            if (url == null) throw new IllegalStateException("test resource " + path + " is missing; run scripts/golden/*.py");
            return Paths.get(url.toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
