/*
 * DataConfig: how a training-data file is read, tokenized, masked, packed and split. Defaults follow
 * TRL's SFTConfig where it has an equivalent (completion_only_loss=True, packing=False, truncation
 * keeping the start) with max_length 512 (TRL: 1024) to suit CPU training.
 *
 * Constraints: immutable and validated on construction, so a bad value fails where it is set with
 * a message saying how to fix it. Nullable fields (validationFile, chatTemplate) mean "not set".
 * Build with DataConfig.builder() or start from DataConfig.defaults().toBuilder().
 */
package dev.peft4j.data;

import dev.peft4j.Peft4jException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;

/**
 * Data settings.
 *
 * @param format             record shape; AUTO detects it per file from the first record's keys
 * @param maxLength          sequences are truncated to this many tokens (keeping the start); with
 *                           packing, the length of every packed row (examples are then not truncated:
 *                           a long one continues into the next row)
 * @param completionOnlyLoss true: loss only on completion / assistant / Alpaca output tokens;
 *                           false: on every token
 * @param packing            concatenate examples into rows of exactly maxLength tokens
 * @param validationFraction share of the records held out for validation, in [0, 1)
 * @param validationFile     a separate validation file (null: none); exclusive with validationFraction
 * @param seed               seed of the train/validation split (and the default DataLoader seed)
 * @param skipMalformed      skip and count malformed records instead of failing
 * @param addEos             append the tokenizer's EOS after each text / completion / Alpaca output
 *                           (when the tokenizer has one); chats rely on their template's end-of-turn
 * @param chatTemplate       Jinja chat template overriding the model's (null: use tokenizer_config.json's)
 * @param limit              read at most this many records per file (0: all)
 * @param columns            renames applied to each record's top-level keys before anything else,
 *                           e.g. {"question": "prompt", "answer": "completion"} (empty: none)
 */
public record DataConfig(DataFormat format, int maxLength, boolean completionOnlyLoss, boolean packing,
                         double validationFraction, Path validationFile, long seed, boolean skipMalformed,
                         boolean addEos, String chatTemplate, int limit, Map<String, String> columns) {

    public static final int DEFAULT_MAX_LENGTH = 512;
    public static final long DEFAULT_SEED = 42L;

    public DataConfig {
        if (format == null) {
            throw new Peft4jException("format must be set (got null); use DataFormat.AUTO to detect it per file");
        }
        if (maxLength <= 1) {
            throw new Peft4jException("maxLength must be > 1 (got " + maxLength + "); try 512");
        }
        if (!(validationFraction >= 0 && validationFraction < 1)) {
            throw new Peft4jException("validationFraction must be in [0, 1) (got " + validationFraction
                    + "); try 0.05, or 0 for no validation split");
        }
        if (validationFile != null && validationFraction > 0) {
            throw new Peft4jException("set either validationFile (" + validationFile
                    + ") or validationFraction (" + validationFraction + "), not both");
        }
        if (chatTemplate != null && chatTemplate.isBlank()) {
            throw new Peft4jException("chatTemplate must be null (use the model's) or a Jinja template "
                    + "(got a blank string)");
        }
        if (limit < 0) {
            throw new Peft4jException("limit must be >= 0 (got " + limit + "); 0 reads every record");
        }
        columns = Map.copyOf(columns == null ? Map.of() : columns);
        for (Map.Entry<String, String> e : columns.entrySet()) {
            if (e.getKey().isEmpty() || e.getValue().isEmpty()) {
                throw new Peft4jException("columns must map non-empty names (got \"" + e.getKey()
                        + "\" -> \"" + e.getValue() + "\")");
            }
        }
    }

    /** AUTO format, maxLength 512, completion-only loss, no packing, no validation, seed 42, EOS added. */
    public static DataConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this config's values. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.format = format;
        b.maxLength = maxLength;
        b.completionOnlyLoss = completionOnlyLoss;
        b.packing = packing;
        b.validationFraction = validationFraction;
        b.validationFile = validationFile;
        b.seed = seed;
        b.skipMalformed = skipMalformed;
        b.addEos = addEos;
        b.chatTemplate = chatTemplate;
        b.limit = limit;
        b.columns = columns;
        return b;
    }

    /** Mutable builder; build() validates. */
    public static final class Builder {
        private DataFormat format = DataFormat.AUTO;
        private int maxLength = DEFAULT_MAX_LENGTH;
        private boolean completionOnlyLoss = true;
        private boolean packing = false;
        private double validationFraction = 0;
        private Path validationFile;
        private long seed = DEFAULT_SEED;
        private boolean skipMalformed = false;
        private boolean addEos = true;
        private String chatTemplate;
        private int limit = 0;
        private Map<String, String> columns = Map.of();

        private Builder() {}

        public Builder format(DataFormat v) { format = v; return this; }
        public Builder maxLength(int v) { maxLength = v; return this; }
        public Builder completionOnlyLoss(boolean v) { completionOnlyLoss = v; return this; }
        public Builder packing(boolean v) { packing = v; return this; }
        public Builder validationFraction(double v) { validationFraction = v; return this; }
        public Builder validationFile(Path v) { validationFile = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder skipMalformed(boolean v) { skipMalformed = v; return this; }
        public Builder addEos(boolean v) { addEos = v; return this; }
        public Builder chatTemplate(String v) { chatTemplate = v; return this; }
        public Builder limit(int v) { limit = v; return this; }
        public Builder columns(Map<String, String> v) { columns = Objects.requireNonNullElse(v, Map.of()); return this; }

        public DataConfig build() {
            return new DataConfig(format, maxLength, completionOnlyLoss, packing, validationFraction,
                    validationFile, seed, skipMalformed, addEos, chatTemplate, limit, columns);
        }
    }
}
