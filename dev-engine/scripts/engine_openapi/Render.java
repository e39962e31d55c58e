// Renders a Camunda 7 fork's REST OpenAPI document from its FreeMarker templates as the fork's own build does
// (engine-rest/engine-rest-openapi-generator, TemplateParser): the same FreeMarker configuration, data model
// (models, endpoints, the version and docsVersion keys) and Gson formatting; the version is given as an
// argument instead of read from the generator's jar. Used by scripts/fork_openapi.py.
import com.google.gson.*;
import freemarker.template.*;
import java.io.*;
import java.nio.file.*;
import java.util.*;
import java.util.stream.*;

public class Render {
  public static void main(String[] a) throws Exception {
    String dir = a[0], out = a[1], versionKey = a[2], version = a[3];
    Configuration cfg = new Configuration(Configuration.VERSION_2_3_29);
    cfg.setDirectoryForTemplateLoading(new File(dir));
    cfg.setDefaultEncoding("UTF-8");
    Template t = cfg.getTemplate("main.ftl");
    Map<String, Object> data = new HashMap<>();
    data.put(versionKey, version);
    data.put("docsVersion", version.contains("SNAPSHOT") ? "develop" : version.substring(0, version.lastIndexOf(".")));
    Map<String, String> models = new TreeMap<>();
    try (Stream<Path> s = Files.walk(Paths.get(dir, "models"))) {
      for (Path p : s.filter(Files::isRegularFile).collect(Collectors.toList())) {
        String name = p.getFileName().toString(); name = name.substring(0, name.lastIndexOf('.'));
        String fp = p.toAbsolutePath().toString();
        models.put(name, fp.substring(fp.lastIndexOf("org"), fp.lastIndexOf(File.separator)));
      }
    }
    data.put("models", models);
    Map<String, List<String>> endpoints = new TreeMap<>();
    Path pathsDir = Paths.get(dir, "paths").toAbsolutePath();
    int start = pathsDir.toString().length();
    try (Stream<Path> s = Files.walk(pathsDir)) {
      for (Path p : s.filter(Files::isRegularFile).collect(Collectors.toList())) {
        String m = p.getFileName().toString(); m = m.substring(0, m.lastIndexOf('.'));
        String fp = p.toAbsolutePath().toString();
        String ep = fp.substring(start, fp.lastIndexOf(File.separator)).replace(File.separator, "/");
        List<String> ops = endpoints.computeIfAbsent(ep, k -> new ArrayList<>());
        ops.add(m); Collections.sort(ops);
      }
    }
    data.put("endpoints", endpoints);
    StringWriter w = new StringWriter();
    t.process(data, w);
    Gson gson = new GsonBuilder().serializeNulls().setPrettyPrinting().create();
    Files.write(Paths.get(out), gson.toJson(JsonParser.parseString(w.toString())).getBytes("UTF-8"));
  }
}
