package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.data.ChatTemplate;
import dev.peft4j.generate.Generator;
import dev.peft4j.generate.SamplingConfig;
import dev.peft4j.model.CausalLM;
import dev.peft4j.serve.Peft4jServer;
import dev.peft4j.serve.ServerOptions;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.PeftAdapter;
import dev.peft4j.tuner.PeftModel;
import dev.peft4j.tuner.lora.InitLoraWeights;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.prompttuning.PromptTuningConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * peft4j serve driven by real third-party programs: the official OpenAI Node SDK (npm openai, pinned in
 * peft4j-serve/src/test/js/package.json) and headless Chromium through Playwright, loading the
 * comparison page. The greedy text of every (prompt, adapter) must equal what `peft4j generate
 * --adapter` prints. npm packages are installed by `npm ci` on first use (node_modules is git-ignored).
 */
@Tag("slow")
class ServeClientsTest {
    static final Path JS = Path.of("..", "peft4j-serve", "src", "test", "js").toAbsolutePath().normalize();
    static final String KEY = "sk-peft4j-test";
    static final String TEMPLATE = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}"
            + "{% if add_generation_prompt %}<assistant>{% endif %}";
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir static Path tmp;
    static Path model;
    static final Map<String, Path> adapters = new LinkedHashMap<>();
    static Peft4jServer server;

    @BeforeAll
    static void start() throws Exception {
        model = CliTest.shared("models/stories260K");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/node")) || onPath("node"), "node is not installed; skipping");
        npmCi();
        Map<String, AdapterConfig> configs = new LinkedHashMap<>();
        configs.put("lora-a", LoraConfig.builder().r(4).alpha(16).allLinear().init(InitLoraWeights.RANDOM).build());
        configs.put("lora-b", LoraConfig.builder().r(2).alpha(8).targetModules("q_proj", "v_proj", "down_proj").init(InitLoraWeights.RANDOM).build());
        configs.put("prompt", PromptTuningConfig.random(4));
        long seed = 5;
        for (Map.Entry<String, AdapterConfig> e : configs.entrySet()) {
            Path dir = tmp.resolve(e.getKey());
            PeftAdapter.save(new PeftModel(CausalLM.load(model)).addAdapter(e.getValue(), e.getKey(), seed++), dir, model.toString(), null);
            adapters.put(e.getKey(), dir);
        }
        Path template = tmp.resolve("chat.jinja");
        Files.writeString(template, TEMPLATE);
        ServerOptions.Builder b = ServerOptions.builder(model).modelName("stories260K").port(0).apiKeys(List.of(KEY)).chatTemplate(template)
                .accessLog(new PrintStream(new ByteArrayOutputStream()));
        adapters.forEach(b::adapter);
        server = Peft4jServer.start(b.build());
    }

    @AfterAll
    static void stop() { if (server != null) server.close(); }

    @Test
    void theOfficialOpenAiNodeSdkGetsWhatPeft4jGeneratePrints() throws Exception {
        Map<String, Object> cases = new LinkedHashMap<>();
        cases.put("models", List.of("stories260K", "lora-a", "lora-b", "prompt"));
        List<Map<String, Object>> completions = new ArrayList<>();
        String[][] runs = {{"stories260K", "Once upon a time"}, {"lora-a", "Once upon a time"}, {"lora-b", "The little dog"}, {"prompt", "Lily"}};
        for (String[] r : runs)
            completions.add(Map.of("model", r[0], "prompt", r[1], "max_tokens", 24, "expected", generateCli(r[0], r[1], 24)));
        cases.put("completions", completions);
        List<Map<String, String>> messages = List.of(Map.of("role", "user", "content", "Tell me about a cat."));
        cases.put("chat", List.of(Map.of("model", "lora-a", "messages", messages, "max_tokens", 16, "expected", chat("lora-a", messages, 16))));
        Path file = tmp.resolve("cases.json");
        JSON.writeValue(file.toFile(), cases);
        String[] r = node(List.of("openai-client.mjs", file.toString()), Map.of("PEFT4J_BASE_URL", server.baseUrl() + "/v1", "PEFT4J_API_KEY", KEY));
        System.out.println(r[1]);
        assertThat(r[0]).as(r[1]).isEqualTo("0");
        assertThat(r[1]).contains("ok").doesNotContain("FAIL");
        assertThat(r[1].lines().filter(l -> l.startsWith("ok")).count()).isGreaterThanOrEqualTo(15);
    }

    @Test
    void theComparisonPageStreamsThreeAnswersInHeadlessChromium() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/chromium")), "/usr/bin/chromium not installed (apt-get install -y chromium)");
        Path out = Path.of("target-artifacts", "serve").toAbsolutePath();
        Files.createDirectories(out);
        Files.deleteIfExists(out.resolve("compare-page.png"));
        String[] r = node(List.of("page.mjs", server.baseUrl() + "/", out.toString(), "stories260K", "lora-a", "prompt", "Once upon a time"),
                Map.of("PEFT4J_API_KEY", KEY, "PEFT4J_MAX_TOKENS", "32"));
        System.out.println(r[1]);
        assertThat(r[0]).as(r[1]).isEqualTo("0");
        JsonNode answers = null;
        for (String line : r[1].lines().toList()) if (line.startsWith("{\"answers\"")) answers = JSON.readTree(line).get("answers");
        assertThat(answers).as("the page's answers line").isNotNull();
        for (String m : List.of("stories260K", "lora-a", "prompt"))
            assertThat(answers.get(m).asText()).as(m).isEqualTo(generateCli(m, "Once upon a time", 32));
        Path png = out.resolve("compare-page.png");
        assertThat(png).exists();
        byte[] head = Files.readAllBytes(png);
        assertThat(head.length).isGreaterThan(10_000);
        assertThat(new String(head, 1, 3, StandardCharsets.US_ASCII)).isEqualTo("PNG");
        java.awt.image.BufferedImage img = javax.imageio.ImageIO.read(png.toFile());
        assertThat(img.getWidth()).isGreaterThan(600);
        assertThat(distinctColours(img)).as("a rendered page, not a blank one").isGreaterThan(50);
    }

    /** The text `peft4j generate --adapter DIR --prompt P` prints after the prompt (greedy). */
    static String generateCli(String name, String prompt, int maxTokens) {
        List<String> args = new ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt", prompt, "--max-new-tokens", String.valueOf(maxTokens)));
        if (adapters.containsKey(name)) args.addAll(List.of("--adapter", adapters.get(name).toString()));
        String[] r = CliTest.run(args.toArray(String[]::new));
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).startsWith(prompt);
        String text = r[1].substring(prompt.length());
        return text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
    }

    /** The greedy reply to messages through the chat template (apply_chat_template + generate). */
    static String chat(String name, List<Map<String, String>> messages, int maxTokens) {
        CausalLM lm = CausalLM.load(model);
        new PeftModel(lm).loadAdapter(adapters.get(name), name);
        try (Tokenizer tok = Tokenizer.load(model)) {
            int[] ids = tok.encode(ChatTemplate.of(TEMPLATE, Map.of()).render(messages, true));
            return tok.decodeContinuation(ids, new Generator(lm).generate(ids, SamplingConfig.greedy(maxTokens), tok.eosIds(), null));
        }
    }

    static int distinctColours(java.awt.image.BufferedImage img) {
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 3) for (int x = 0; x < img.getWidth(); x += 3) seen.add(img.getRGB(x, y));
        return seen.size();
    }

    static String[] node(List<String> args, Map<String, String> env) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("node"));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(JS.toFile()).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(180, TimeUnit.SECONDS)) { p.destroyForcibly(); throw new AssertionError("node " + args + " timed out"); }
        return new String[] {String.valueOf(p.exitValue()), new String(out, StandardCharsets.UTF_8)};
    }

    static void npmCi() throws IOException, InterruptedException { npmCi(JS, "openai", "playwright-core"); }

    /** Installs the pinned npm packages (package-lock.json) of dir once, unless the named packages are there already. */
    static synchronized void npmCi(Path dir, String... packages) throws IOException, InterruptedException {
        boolean present = true;
        for (String p : packages) present &= Files.isDirectory(dir.resolve("node_modules").resolve(p));
        if (present) return;
        Process p = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund").directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(600, TimeUnit.SECONDS) || p.exitValue() != 0) throw new AssertionError("npm ci in " + dir + " failed:\n" + out);
    }

    static boolean onPath(String exe) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) if (Files.isExecutable(Path.of(d, exe))) return true;
        return false;
    }
}
