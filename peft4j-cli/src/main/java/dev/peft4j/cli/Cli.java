/*
 * Cli: small helpers shared by commands — expanding --config FILE (YAML or JSON) into options
 * placed before the real command-line arguments (so the command line wins), and JSON output.
 */
package dev.peft4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

final class Cli {
    private Cli() {}

    /** args with "--config FILE" replaced by the file's options, which come first so that explicit options override them. */
    static String[] expandConfig(String[] args) {
        int at = -1;
        String file = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) { at = i; file = args[i + 1]; break; }
            if (args[i].startsWith("--config=")) { at = i; file = args[i].substring(9); break; }
        }
        if (file == null) return args;
        List<String> fromFile = new ArrayList<>();
        flatten("", readConfig(Path.of(file)), fromFile);
        List<String> out = new ArrayList<>();
        int skip = args[at].equals("--config") ? 2 : 1;
        out.add(args[0]);                                   // the subcommand
        out.addAll(fromFile);
        for (int i = 1; i < args.length; i++) if (i < at || i >= at + skip) out.add(args[i]);
        return out.toArray(String[]::new);
    }

    static JsonNode readConfig(Path file) {
        if (!Files.isRegularFile(file)) throw new Peft4jException("config file " + file + " not found");
        String name = file.getFileName().toString().toLowerCase();
        ObjectMapper om = name.endsWith(".json") ? new ObjectMapper() : new ObjectMapper(new YAMLFactory());
        try {
            JsonNode n = om.readTree(file.toFile());
            if (n == null || !n.isObject())
                throw new Peft4jException("config file " + file + " must hold a mapping of option names to values, e.g. 'lr: 2e-4'");
            return n;
        } catch (IOException e) {
            throw new Peft4jException("cannot parse config file " + file + ": " + e.getMessage(), e);
        }
    }

    /** {lora: {r: 8}, steps: 100} -> --lora.r=8 --steps=100; lists become comma lists. */
    private static void flatten(String prefix, JsonNode node, List<String> out) {
        Iterator<Map.Entry<String, JsonNode>> it = node.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            JsonNode v = e.getValue();
            if (v.isObject()) { flatten(key, v, out); continue; }
            if (v.isNull()) continue;
            String value;
            if (v.isArray()) {
                List<String> parts = new ArrayList<>();
                v.forEach(x -> parts.add(x.asText()));
                value = String.join(",", parts);
            } else {
                value = v.asText();
            }
            out.add("--" + key.replace('_', '-') + "=" + value);
        }
    }

    static void writeJson(Path file, Object value) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(tmp.toFile(), value);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new Peft4jException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }
}
