using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Devices.RaidController;

/// <summary>The <c>settings</c> of a raid-controller function: defaults, and clear errors naming the JSON path.</summary>
[TestFixture]
public class RaidControllerSettingsTests
{
    const string DefaultSettings = "\"settings\": { \"drives\": 8, \"driveSize\": \"1T\", \"cacheSize\": \"256M\" }";

    static PcieSystem Build(string settings)
    {
        string json = PlatformModel.ReadDefaultJson();
        Assert.That(json, Does.Contain(DefaultSettings));
        var r = PlatformModel.Parse(json.Replace(DefaultSettings, $"\"settings\": {settings}"), "settings-test");
        Assert.That(r.Errors, Is.Empty);
        return PcieSystem.Build(r.Model!);
    }

    [Test]
    public void Settings_ShapeTheDrives()
    {
        var s = Build("{ \"drives\": 3, \"driveSize\": \"8M\", \"driveKind\": \"optane\", \"blockSize\": 4096 }");
        var d = s.Hosts[0].RaidControllers().Single().Device;
        var drives = d.Engine.ListDrives();
        Assert.That(drives.Select(x => x.Name), Is.EqualTo(new[] { "d0", "d1", "d2" }));
        Assert.That(drives.All(x => x.Kind == PcieVirt.Devices.Media.DriveKind.Optane && x.BlockSize == 4096 && x.BlockCount == 2048), Is.True);
    }

    [Test]
    public void ImageFiles_BackTheDrives()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"raidimg-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string a = Path.Combine(dir, "a.img"), b = Path.Combine(dir, "b.img");
            var s = Build($"{{ \"driveSize\": \"1M\", \"images\": [\"{a}\", \"{b}\"] }}");
            var d = s.Hosts[0].RaidControllers().Single().Device;
            Assert.That(d.Engine.ListDrives().Select(x => x.ImagePath), Is.EqualTo(new[] { a, b }));
            d.Dispose();
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [TestCase("{ \"drives\": 0 }", "settings.drives: 0 drives")]
    [TestCase("{ \"drives\": \"many\" }", "settings.drives:")]
    [TestCase("{ \"driveKind\": \"tape\" }", "settings.driveKind: expected")]
    [TestCase("{ \"blockSize\": 1024 }", "settings.blockSize: 1024")]
    [TestCase("{ \"classCode\": \"scsi\" }", "settings.classCode: expected")]
    [TestCase("{ \"processing\": \"soon\" }", "settings.processing: expected")]
    [TestCase("{ \"drives\": 2, \"images\": [\"x\"] }", "settings.images: 1 images for 2 drives")]
    [TestCase("{ \"images\": [3] }", "settings.images[0]: expected a file path")]
    [TestCase("{ \"drivesize\": \"1G\" }", "settings.drivesize: unknown setting")]
    [TestCase("{ \"driveSize\": \"1000\" }", "settings.driveSize: 1000 bytes is not a multiple")]
    [TestCase("{ \"images\": [\"/nonexistent-dir-pcievirt/x.img\"] }", "settings: drive 'd0'")]
    public void BadSettings_FailTheBuild_NamingTheJsonPath(string settings, string message)
    {
        var e = Assert.Throws<PlatformBuildException>(() => Build(settings));
        Assert.That(e!.Message, Does.Contain("functions[0]." + message));
    }
}
