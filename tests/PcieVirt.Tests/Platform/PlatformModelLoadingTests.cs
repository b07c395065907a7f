using Microsoft.Extensions.Logging;
using PcieVirt.Platform.Model;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Platform;

[TestFixture]
public class PlatformModelLoadingTests
{
    [Test]
    public void Load_MissingFile_IsAnErrorNotAnException()
    {
        var path = Path.Combine(TestContext.CurrentContext.WorkDirectory, "no-such-model.json");
        var r = PlatformModel.Load(path);
        Assert.That(r.Success, Is.False);
        Assert.That(r.Errors.Single().Path, Is.EqualTo("$"));
        Assert.That(r.Errors.Single().Message, Does.StartWith("cannot read the file: "));
        Assert.That(r.Errors.Single().SourceName, Is.EqualTo(path));
    }

    [TestCase("", 1, 1)]
    [TestCase("{", 1, 2)]
    [TestCase("{\n  \"name\": \"x\",\n  \"hosts\": [ }\n}", 3, 14)]
    [TestCase("{ \"name\": \"x\" } trailing", 1, 17)]
    public void Parse_MalformedJson_ReportsLineAndColumn(string json, int line, int column)
    {
        var r = PlatformModel.Parse(json, "inline");
        var e = r.Errors.Single();
        Assert.That((e.Line, e.Column), Is.EqualTo((line, column)), e.ToString());
        Assert.That(e.Message, Does.StartWith($"malformed JSON at line {line}, column {column}: "));
    }

    [Test]
    public void Parse_DuplicateProperty_IsReportedAtTheSecondOccurrence()
    {
        var json = Baseline.Json.Replace("\"name\": \"h0\",", "\"name\": \"h0\",\n        \"name\": \"h1\",");
        var r = PlatformModel.Parse(json, "dup.json");
        var e = r.Errors.Single();
        Assert.That(e.Path, Is.EqualTo("$.hosts[0].name"));
        Assert.That(e.Message, Is.EqualTo("duplicate property 'name'"));
    }

    [TestCase("[]", "expected an object, found an array")]
    [TestCase("null", "expected an object, found null")]
    [TestCase("42", "expected an object, found a number")]
    public void Parse_RootNotAnObject(string json, string message)
    {
        var e = PlatformModel.Parse(json, "x").Errors.Single();
        Assert.That((e.Path, e.Message), Is.EqualTo(("$", message)));
    }

    [Test]
    public void Parse_AllowsCommentsAndTrailingCommas()
    {
        var json = Baseline.Json.Replace("\"name\": \"t\",", "// a comment\n  \"name\": \"t\", /* another */")
            .Replace("\"busEnd\": 255 }", "\"busEnd\": 255, }");
        var r = PlatformModel.Parse(json, "c.json");
        Assert.That(r.Errors, Is.Empty, Baseline.Describe(r));
    }

    [Test]
    public void Parse_ErrorPositionsAccountForMultibyteCharacters()
    {
        // The description holds 3 two-byte characters before the bad value on the same line.
        var json = "{ \"description\": \"äöü\", \"name\": 5, \"hosts\": [] }";
        var e = PlatformModel.Parse(json, "u.json").Errors.First(x => x.Path == "$.name");
        Assert.That(e.Column, Is.EqualTo(json.IndexOf("\"name\"", StringComparison.Ordinal) + 1));
    }

    [Test]
    public void GetModelOrThrow_ListsEveryError()
    {
        var r = PlatformModel.Parse("{ \"hosts\": [], \"nme\": 1 }", "e.json");
        var ex = Assert.Throws<PlatformModelException>(() => r.GetModelOrThrow())!;
        Assert.That(ex.Errors, Has.Count.EqualTo(r.Errors.Count).And.Count.EqualTo(3));
        foreach (var e in r.Errors) Assert.That(ex.Message, Does.Contain(e.ToString()));
    }

    [Test]
    public void Parse_LogsAWarningForAnInvalidModel()
    {
        var logger = new RecordingLogger();
        PlatformModel.Parse("{}", "w.json", logger);
        Assert.That(logger.Entries.Any(x => x.Level == LogLevel.Warning && x.Message.Contains("w.json", StringComparison.Ordinal)), Is.True);
    }

    [Test]
    public void LoadDefault_ReturnsTheEmbeddedModel()
    {
        var model = PlatformModel.LoadDefault();
        Assert.That(model.Name, Is.EqualTo("default"));
        Assert.That(model.SourceName, Is.EqualTo("default.json"));
    }
}
