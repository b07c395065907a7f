using PcieVirt.Platform;
using PcieVirt.Platform.Model;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Devices.RaidController;

/// <summary>The <c>settings</c> of a raid-controller function: defaults, and clear errors naming the JSON path.</summary>
[TestFixture]
public class RaidControllerSettingsTests
{
    static PcieSystem Build(string settings)
    {
        var r = PlatformModel.Parse(DefaultModelJson.WithRaidSettings(settings), "settings-test");
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
    public void Volumes_AreCreatedAndAttached_AtPowerOn()
    {
        var s = Build("{ \"drives\": 6, \"driveSize\": \"8M\", \"volumes\": [" +
            "{ \"name\": \"a\", \"level\": 5, \"drives\": [0, 1, 2], \"stripe\": \"16K\", \"spares\": [5], \"attach\": [\"pf\"] }," +
            "{ \"name\": \"b\", \"level\": 1, \"drives\": [3, 4], \"attach\": [1, 2] }] }");
        var d = s.Hosts[0].RaidControllers().Single().Device;
        var a = d.Engine.FindVolume("a")!;
        var b = d.Engine.FindVolume("b")!;
        Assert.Multiple(() =>
        {
            Assert.That(d.AttachmentsOf(a), Is.EqualTo(new[] { 0 }), "a on the PF");
            Assert.That(d.AttachmentsOf(b), Is.EquivalentTo(new[] { 1, 2 }), "b on VF 1 and VF 2");
            // RAID 5 over three 8 MiB drives keeps two drives' worth of data.
            Assert.That(a.BlockCount * a.BlockSize, Is.EqualTo(2 * 8L << 20));
            Assert.That(d.NamespaceOf(a), Is.Not.Zero);
        });
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

    [Test]
    public void RelativeImagePaths_AreTakenFromTheModelFilesDirectory_NotTheWorkingDirectory()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"pcievirt-images-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(dir, "disks"));
        try
        {
            string model = Path.Combine(dir, "model.json");
            File.WriteAllText(model, DefaultModelJson.WithRaidSettings("{ \"driveSize\": \"1M\", \"images\": [\"disks/a.img\", \"disks/b.img\"] }"));
            var r = PlatformModel.Load(model);
            Assert.That(r.Success, Is.True, string.Join("\n", r.Errors));
            var s = PcieSystem.Build(r.Model!);
            var d = s.Hosts[0].RaidControllers().Single().Device;
            Assert.That(d.Engine.ListDrives().Select(x => x.ImagePath),
                Is.EqualTo(new[] { Path.Combine(dir, "disks/a.img"), Path.Combine(dir, "disks/b.img") }));
            Assert.That(File.Exists(Path.Combine(dir, "disks", "a.img")), Is.True);
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
    [TestCase("{ \"drives\": 4, \"volumes\": {} }", "settings.volumes: expected an array")]
    [TestCase("{ \"drives\": 4, \"volumes\": [{ \"level\": 5, \"drives\": [0, 1, 2] }] }", "settings.volumes[0].name: a volume needs a name")]
    [TestCase("{ \"drives\": 4, \"volumes\": [{ \"name\": \"v\", \"level\": 4, \"drives\": [0, 1, 2] }] }", "settings.volumes[0].level: expected 0, 1, 5, 6 or 10")]
    [TestCase("{ \"drives\": 4, \"volumes\": [{ \"name\": \"v\", \"level\": 5, \"drives\": [0, 1, 9] }] }", "settings.volumes[0].drives[2]: expected a drive index 0..3")]
    [TestCase("{ \"drives\": 4, \"volumes\": [{ \"name\": \"v\", \"level\": 5, \"drives\": [0, 1, 2], \"stripe\": \"12K\" }] }", "settings.volumes[0].stripe: 12288 bytes")]
    [TestCase("{ \"drives\": 4, \"volumes\": [{ \"name\": \"v\", \"level\": 5, \"drives\": [0, 1, 2], \"attach\": [\"vm\"] }] }", "settings.volumes[0].attach[0]: expected \"pf\" or a VF number")]
    [TestCase("{ \"drives\": 4, \"volumes\": [{ \"name\": \"v\", \"level\": 5, \"drives\": [0, 1, 2], \"size\": 1 }] }", "settings.volumes[0].size: unknown volume setting")]
    [TestCase("{ \"drives\": 4, \"volumes\": [{ \"name\": \"v\", \"level\": 6, \"drives\": [0, 1] }] }", "settings.volumes[0]: ")]
    [TestCase("{ \"drives\": 4, \"volumes\": [{ \"name\": \"v\", \"level\": 1, \"drives\": [0, 1], \"attach\": [99] }] }", "settings.volumes[0].attach: VF 99 does not exist")]
    public void BadSettings_FailTheBuild_NamingTheJsonPath(string settings, string message)
    {
        var e = Assert.Throws<PlatformBuildException>(() => Build(settings));
        Assert.That(e!.Message, Does.Contain("functions[0]." + message));
    }
}
