/*
 * BuildInfo: the peft4j version and the git commit this build was made from, read from
 * dev/peft4j/build.properties, which the peft4j-core build writes (maven-antrun-plugin runs
 * `git rev-parse HEAD` and `git status --porcelain` at generate-resources). "unknown" only when
 * the build had no git or no clone, or the resource is missing (classes compiled by other means).
 */
package dev.peft4j.provenance;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

public record BuildInfo(String version, String gitCommit, boolean gitDirty) {
    public static final String RESOURCE = "dev/peft4j/build.properties", UNKNOWN = "unknown";

    private static volatile BuildInfo current;

    /** This build's version and commit (read once). */
    public static BuildInfo current() {
        BuildInfo b = current;
        if (b != null) return b;
        Properties p = new Properties();
        try (InputStream in = BuildInfo.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            if (in != null) p.load(in);
        } catch (IOException e) {
            // an unreadable resource leaves every field unknown, as a missing one does
        }
        b = new BuildInfo(value(p, "version"), value(p, "git.commit"), Boolean.parseBoolean(p.getProperty("git.dirty", "false")));
        current = b;
        return b;
    }

    private static String value(Properties p, String key) {
        String v = p.getProperty(key, "").trim();
        return v.isEmpty() || v.startsWith("${") ? UNKNOWN : v;
    }

    /** "0.1.0 (commit 1a2b3c4d5e6f, modified)" for people. */
    public String describe() {
        String commit = gitCommit.equals(UNKNOWN) ? "commit unknown" : "commit " + gitCommit.substring(0, Math.min(12, gitCommit.length()));
        return version + " (" + commit + (gitDirty ? ", with uncommitted changes" : "") + ")";
    }
}
