/*
 * ModelCard: an adapter's README.md as a Hugging Face model card. YAML front matter (written by
 * Jackson YAML, so any path or name is quoted correctly): base_model, library_name: peft,
 * pipeline_tag: text-generation, tags (peft, the method, peft4j, base_model:adapter:BASE), datasets
 * (the training data file names) and, once `eval --record` has stored results, model-index with
 * them. The body: how to load it, a summary table, the recorded evaluation, the provenance summary
 * and the resolved training configuration.
 *
 * PeftAdapter.save writes a card from the live adapter; rewrite(dir) rebuilds it from the files in
 * the directory alone (adapter_config.json, provenance.json, eval_results.json), which is what
 * train does after writing the provenance and eval --record after storing results.
 */
package dev.peft4j.tuner;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.peft4j.Peft4jException;
import dev.peft4j.io.TensorInfo;
import dev.peft4j.provenance.EvalResults;
import dev.peft4j.provenance.Provenance;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

public final class ModelCard {
    public static final String FILE = "README.md";

    private static final ObjectMapper YAML = new ObjectMapper(YAMLFactory.builder()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
            .enable(YAMLGenerator.Feature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS)
            .enable(YAMLGenerator.Feature.INDENT_ARRAYS_WITH_INDICATOR)
            .build());

    /**
     * What a card is made of. parameters: the adapter's parameter summary; card: the data/metrics
     * line of an adapter saved without provenance (null when none); provenance and evals may be null.
     */
    public record Input(String name, AdapterConfig config, String baseModel, String parameters, PeftAdapter.Card card,
                        Provenance provenance, EvalResults evals) {}

    private ModelCard() {}

    /** Rebuilds dir/README.md from the directory's adapter_config.json, provenance.json and eval_results.json. */
    public static void rewrite(Path dir) {
        AdapterConfig config = PeftAdapter.readConfig(dir);
        Provenance p = Provenance.read(dir);
        String params = p != null && p.adapter() != null && p.adapter().trainableSummary() != null ? p.adapter().trainableSummary()
                : String.format("%,d parameters in %s", parametersInFile(dir), PeftAdapter.WEIGHTS);
        String base = PeftAdapter.baseModelOf(dir);
        PeftAdapter.writeAtomically(dir.resolve(FILE), render(new Input(nameOf(dir), config, base == null ? "unknown" : base, params,
                null, p, EvalResults.read(dir))));
    }

    /** Parameters stored in dir/adapter_model.safetensors (from its header). */
    public static long parametersInFile(Path dir) {
        try (var f = dev.peft4j.io.SafeTensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            long n = 0;
            for (TensorInfo t : f.tensors()) n += t.numel();
            return n;
        }
    }

    static String nameOf(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        return abs.getFileName() == null ? abs.toString() : abs.getFileName().toString();
    }

    public static String render(Input in) {
        AdapterConfig c = in.config();
        Provenance p = in.provenance();
        Map<String, EvalResults.Latest> evals = in.evals() == null ? Map.of() : in.evals().latest();
        StringBuilder s = new StringBuilder();
        s.append("---\n").append(frontMatter(in, evals)).append("---\n\n");
        s.append("# ").append(c.peftType()).append(" adapter for ").append(in.baseModel()).append("\n\n");
        s.append("Trained with [peft4j](https://github.com/peft4j/peft4j) (pure Java, CPU). Loads with HF PEFT:\n\n");
        s.append("```python\nfrom peft import PeftModel\nmodel = PeftModel.from_pretrained(base_model, \"<this directory>\")\n```\n\n");
        Object targets = c.toPeftJson().get("target_modules");
        s.append("| | |\n|---|---|\n");
        row(s, "method", c.describe());
        row(s, "target modules", targets == null ? "-" : targets);
        if (!c.modulesToSave().isEmpty()) row(s, "modules to save", c.modulesToSave());
        row(s, "parameters", in.parameters());
        if (p != null) {
            row(s, "data", String.join(", ", dataNames(p)));
            if (p.run() != null) row(s, "final metrics", finalMetrics(p.run()));
        } else if (in.card() != null) {
            if (in.card().data() != null) row(s, "data", in.card().data());
            if (in.card().metrics() != null) row(s, "final metrics", in.card().metrics());
        }
        if (!evals.isEmpty()) {
            s.append("\n## Evaluation\n\nRecorded with `peft4j eval --record` (95% confidence intervals; n = items scored).\n\n");
            s.append("| metric | value | 95% CI | n | data | date |\n|---|---|---|---|---|---|\n");
            evals.forEach((name, l) -> {
                EvalResults.Score sc = l.score();
                s.append("| ").append(cell(name + (sc.higherIsBetter() ? " (higher is better)" : " (lower is better)"))).append(" | ")
                        .append(num(sc.value())).append(" | ").append(sc.lo() == null || sc.hi() == null ? "-" : "[" + num(sc.lo()) + ", " + num(sc.hi()) + "]")
                        .append(" | ").append(sc.n() > 0 ? sc.n() : "-").append(" | ")
                        .append(cell(l.data().data() == null ? "-" : l.data().data())).append(" | ").append(cell(l.date())).append(" |\n");
            });
        }
        if (p != null) s.append("\n## Provenance\n\n").append(provenanceTable(p))
                .append("\nThe full record, with every file's SHA-256, is in `provenance.json`.\n");
        if (p != null && p.config() != null && !p.config().isEmpty()) {
            s.append("\n<details>\n<summary>Training configuration (resolved)</summary>\n\n```yaml\n");
            try {
                s.append(YAML.writeValueAsString(p.config()));
            } catch (JsonProcessingException e) {
                throw new Peft4jException("cannot write the training configuration into the model card: " + e.getMessage(), e);
            }
            s.append("```\n\n</details>\n");
        }
        return s.toString();
    }

    /** The provenance as a two-column markdown table (also what `inspect` prints, minus the markup). */
    public static List<String[]> provenanceRows(Provenance p) {
        List<String[]> rows = new ArrayList<>();
        if (p.baseModel() != null) {
            Provenance.BaseModel b = p.baseModel();
            rows.add(new String[] {"base model", b.path() + " (" + (b.modelType() == null ? "model_type unknown" : b.modelType())
                    + (b.architectures() == null || b.architectures().isEmpty() ? "" : ", " + String.join(", ", b.architectures())) + ")"});
            for (Provenance.FileHash f : b.files())
                rows.add(new String[] {"  " + f.name(), "sha256 " + f.sha256() + " (" + f.bytes() + " bytes)"});
        }
        if (p.data() != null)
            for (Provenance.DataFile d : p.data()) {
                StringBuilder v = new StringBuilder(String.valueOf(d.role())).append(", sha256 ").append(d.sha256()).append(" (").append(d.bytes()).append(" bytes)");
                if (d.train() != null) v.append("; train ").append(d.train().examples()).append(" examples, ").append(d.train().tokens()).append(" tokens");
                if (d.validation() != null)
                    v.append("; validation ").append(d.validation().examples()).append(" examples, ").append(d.validation().tokens()).append(" tokens");
                rows.add(new String[] {"data " + d.name(), v.toString()});
            }
        if (p.peft4j() != null) rows.add(new String[] {"peft4j", p.peft4j().version() + ", git commit " + p.peft4j().gitCommit()
                + (p.peft4j().gitDirty() ? " (with uncommitted changes)" : "")});
        rows.add(new String[] {"seed, threads", p.seed() + ", " + p.threads()});
        if (p.machine() != null) rows.add(new String[] {"machine", p.machine().cpuModel() + ", " + p.machine().cores() + " cores, "
                + p.machine().os() + " " + p.machine().arch() + ", " + p.machine().jvm()});
        if (p.run() != null) {
            Provenance.Run r = p.run();
            rows.add(new String[] {"time", r.startedAt() + " to " + r.finishedAt() + String.format(Locale.ROOT, " (wall %.1f s%s)",
                    r.wallSeconds(), r.resumed() ? ", this resumed part only" : "")});
            rows.add(new String[] {"steps, tokens seen", r.steps() + ", " + String.format(Locale.ROOT, "%,d", r.tokensSeen())});
            rows.add(new String[] {"final loss", finalMetrics(r)});
        }
        if (p.energy() != null) rows.add(new String[] {"energy (estimate)", p.energy().describe()});
        return rows;
    }

    private static String provenanceTable(Provenance p) {
        StringBuilder s = new StringBuilder("| | |\n|---|---|\n");
        for (String[] r : provenanceRows(p)) row(s, r[0].strip(), r[1]);
        return s.toString();
    }

    static String finalMetrics(Provenance.Run r) {
        return (r.finalTrainLoss() == null ? "train loss -" : String.format(Locale.ROOT, "train loss %.4f", r.finalTrainLoss()))
                + (r.finalValidationLoss() == null ? "" : String.format(Locale.ROOT, ", validation loss %.4f", r.finalValidationLoss()))
                + " after " + r.steps() + " steps";
    }

    private static List<String> dataNames(Provenance p) {
        List<String> names = new ArrayList<>();
        if (p.data() != null) for (Provenance.DataFile d : p.data()) if (!names.contains(d.name())) names.add(d.name());
        return names;
    }

    private static String frontMatter(Input in, Map<String, EvalResults.Latest> evals) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("base_model", in.baseModel());
        m.put("library_name", "peft");
        m.put("pipeline_tag", "text-generation");
        m.put("tags", List.of("peft", in.config().peftType().toLowerCase(Locale.ROOT), "peft4j", "base_model:adapter:" + in.baseModel()));
        List<String> datasets = in.provenance() != null ? dataNames(in.provenance())
                : in.card() != null && in.card().data() != null ? List.of(in.card().data()) : List.of();
        if (!datasets.isEmpty()) m.put("datasets", datasets);
        if (!evals.isEmpty()) m.put("model-index", List.of(modelIndex(in.name(), evals)));
        try {
            return YAML.writeValueAsString(m);
        } catch (JsonProcessingException e) {
            throw new Peft4jException("cannot write the model card's YAML front matter: " + e.getMessage(), e);
        }
    }

    /** HF model-index: one result per data file, each with its metrics (type, name, value; the intervals and n are in the body). */
    private static Map<String, Object> modelIndex(String name, Map<String, EvalResults.Latest> evals) {
        Map<String, List<Map<String, Object>>> byData = new LinkedHashMap<>();
        Map<String, String> taskOf = new LinkedHashMap<>();
        evals.forEach((metric, l) -> {
            String data = l.data().data() == null ? l.score().task() : l.data().data();
            taskOf.putIfAbsent(data, l.data().task());
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("type", l.score().metric());
            x.put("name", metric);
            x.put("value", l.score().value());
            byData.computeIfAbsent(data, k -> new ArrayList<>()).add(x);
        });
        List<Map<String, Object>> results = new ArrayList<>();
        byData.forEach((data, metrics) -> {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("task", Map.of("type", "text-generation", "name", taskOf.get(data)));
            r.put("dataset", Map.of("name", data, "type", data));
            r.put("metrics", metrics);
            results.add(r);
        });
        Map<String, Object> idx = new LinkedHashMap<>();
        idx.put("name", name);
        idx.put("results", results);
        return idx;
    }

    private static void row(StringBuilder s, String key, Object value) {
        s.append("| ").append(cell(key)).append(" | ").append(cell(String.valueOf(value))).append(" |\n");
    }

    private static String cell(String v) {
        return v == null ? "-" : v.replace("|", "\\|").replace("\n", " ");
    }

    private static String num(double v) {
        return String.format(Locale.ROOT, "%.4g", v);
    }
}
