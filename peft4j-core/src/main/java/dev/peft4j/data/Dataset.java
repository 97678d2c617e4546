/*
 * Dataset: the front door of dev.peft4j.data - reads a training file (and optionally a validation
 * file), tokenizes and masks every record, truncates, splits, optionally packs, and reports what it
 * did. The pipeline, in order:
 *   1. read records (JsonRecords: JSON Lines or a JSON array; DataConfig.limit caps each file);
 *   2. rename keys (DataConfig.columns), resolve the format (AUTO: from the file's first
 *      well-formed record), and check each record's shape (Sample) - a malformed record throws
 *      DataFormatException naming file:line, or with skipMalformed is skipped and counted;
 *   3. split off validation records (DataConfig.validationFraction, seeded; see Split) or read
 *      DataConfig.validationFile - done on records, before tokenization, so that changing maxLength
 *      never moves a record between train and validation;
 *   4. tokenize and mask (ExampleEncoder, ChatMasker), truncate to maxLength keeping the start
 *      (TRL's truncation_mode "keep_start"), and drop examples left with no loss token;
 *   5. pack both parts into rows of maxLength when DataConfig.packing (Packing). Packed examples are
 *      not truncated first: a long example simply continues into the next row, keeping its EOS
 *      (as TRL's wrapped packing, which concatenates and chunks).
 *
 * Constraints: everything is held in memory (fine for the instruction datasets peft4j targets: the
 * 7.5k-record GSM8K train set is ~1 M tokens, 4 MB of ints). Template and configuration problems
 * that are not the fault of one record always throw.
 */
package dev.peft4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A loaded dataset.
 *
 * @param train      training examples (packed rows when packing)
 * @param validation validation examples (empty when no validation was asked for)
 * @param stats      what loading did
 */
public record Dataset(List<Example> train, List<Example> validation, DatasetStats stats) {

    public Dataset {
        train = List.copyOf(train);
        validation = List.copyOf(validation);
    }

    /**
     * Loads, tokenizes and splits a data file.
     *
     * @param file                a .jsonl / .json file
     * @param tok                 the model's tokenizer
     * @param modelDirForTemplate the directory whose tokenizer_config.json (or chat_template.jinja)
     *                            holds the chat template and special tokens; needed for
     *                            conversational records unless cfg.chatTemplate() is set; may be null
     * @param cfg                 data settings
     * @throws DataFormatException on a malformed record (unless skipped), an empty or unreadable file
     * @throws Peft4jException     when the settings cannot be met (e.g. no chat template for messages)
     */
    public static Dataset load(Path file, Tokenizer tok, Path modelDirForTemplate, DataConfig cfg) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tok, "tok");
        Objects.requireNonNull(cfg, "cfg");
        DatasetStats.Tally tally = new DatasetStats.Tally();
        ExampleEncoder encoder = new ExampleEncoder(tok, cfg, modelDirForTemplate);

        List<Sample> records = readSamples(file, cfg, tally);
        List<Sample> trainRecords;
        List<Sample> validationRecords;
        if (cfg.validationFile() != null) {
            trainRecords = records;
            validationRecords = readSamples(cfg.validationFile(), cfg, tally);
        } else {
            Split.Parts<Sample> parts = Split.split(records, cfg.validationFraction(), cfg.seed());
            trainRecords = parts.train();
            validationRecords = parts.validation();
        }

        List<Example> train = encodeAll(trainRecords, encoder, cfg, tally);
        List<Example> validation = encodeAll(validationRecords, encoder, cfg, tally);
        if (train.isEmpty()) {
            throw new DataFormatException(file + ": no training examples remain (" + tally.recordsRead + " records read, "
                    + tally.skipped + " skipped as malformed, " + tally.droppedNoLoss + " dropped without loss tokens"
                    + (tally.skipReasons.isEmpty() ? "" : "; first skip: " + tally.skipReasons.get(0))
                    + "); check the format and maxLength (" + cfg.maxLength() + ")");
        }

        long packedDropped = 0;
        if (cfg.packing()) {
            Packing.Result t = Packing.pack(train, cfg.maxLength());
            Packing.Result v = Packing.pack(validation, cfg.maxLength());
            if (t.rows().isEmpty()) {
                throw new Peft4jException("packing " + train.size() + " examples (" + tally.tokens + " tokens) into rows of "
                        + cfg.maxLength() + " tokens gives no full row; lower maxLength or turn packing off");
            }
            train = t.rows();
            validation = v.rows();
            packedDropped = t.droppedTokens() + v.droppedTokens();
        }
        return new Dataset(train, validation, tally.build(train.size(), validation.size(), packedDropped));
    }

    /** Reads one file's records as validated samples, skipping or throwing on malformed ones. */
    private static List<Sample> readSamples(Path file, DataConfig cfg, DatasetStats.Tally tally) {
        List<JsonRecords.Raw> raws = JsonRecords.read(file, cfg.limit());
        tally.recordsRead += raws.size();
        DataFormat format = cfg.format() == DataFormat.AUTO ? null : cfg.format();
        List<Sample> out = new ArrayList<>(raws.size());
        for (JsonRecords.Raw raw : raws) {
            try {
                if (raw.node() == null) throw new Sample.Malformed(raw.parseError());
                JsonNode node = Sample.rename(raw.node(), cfg.columns());
                if (format == null) {
                    format = Sample.formatOf(node, DataFormat.AUTO);
                    tally.formats.put(file, format);
                }
                out.add(Sample.parse(node, format, raw.location()));
            } catch (Sample.Malformed m) {
                malformed(raw.location(), m, cfg, tally, format);
            }
        }
        if (format != null) tally.formats.putIfAbsent(file, format);
        return out;
    }

    private static List<Example> encodeAll(List<Sample> samples, ExampleEncoder encoder, DataConfig cfg,
                                           DatasetStats.Tally tally) {
        List<Example> out = new ArrayList<>(samples.size());
        for (Sample s : samples) {
            Example e;
            try {
                e = encoder.encode(s);
            } catch (Sample.Malformed m) {
                malformed(s.location(), m, cfg, tally, null);
                continue;
            }
            if (!cfg.packing() && e.length() > cfg.maxLength()) {
                e = e.truncate(cfg.maxLength());
                tally.truncated++;
            }
            int loss = e.lossTokens();
            if (loss == 0) {
                tally.droppedNoLoss++;
                continue;
            }
            tally.examples++;
            tally.tokens += e.length();
            tally.lossTokens += loss;
            out.add(e);
        }
        return out;
    }

    private static void malformed(JsonRecords.Location at, Sample.Malformed m, DataConfig cfg,
                                  DatasetStats.Tally tally, DataFormat format) {
        if (cfg.skipMalformed()) {
            tally.skip(at, m.getMessage());
            return;
        }
        throw new DataFormatException(at + ": " + m.getMessage()
                + (format == null ? "" : " (reading as " + format + ")")
                + ". Fix the record, or set skipMalformed to skip and count such records");
    }
}
