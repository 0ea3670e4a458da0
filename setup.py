"""Install the MindSpore 2.x image-classification model zoo (`model_zoo`)."""
from setuptools import find_packages, setup

setup(
    name="model_zoo",
    version="0.1.0",
    description="MindSpore ModelZoo recipes (VGG, DenseNet121, InceptionV4) on MindSpore 2.10, CPU to cluster",
    python_requires=">=3.9,<3.12",
    packages=find_packages(include=["model_zoo", "model_zoo.*"]),
    include_package_data=True,
    package_data={"model_zoo": ["*.yaml", "*/*.yaml", "*/scripts/*.sh", "*/scripts/*.py", "data/*",
                              "engine/kernels/*.cc", "engine/kernels/*.h"]},
    install_requires=[
        "mindspore==2.10.0",
        # MindSpore 2.10's GeneratorDataset calls np.array(x, copy=False), which numpy 2 rejects.
        "numpy==1.26.4",
        "pillow==13.0.0",
        "pyyaml==6.0.3",
        "onnx==1.23.2",
        "onnxruntime==1.32.0",
        # the demo builds its data from scikit-learn's bundled handwritten digits
        "scikit-learn==1.9.1",
        # run pictures (curves, confusion matrices); imported lazily, a failure never stops a run
        "matplotlib==3.11.2",
        # timm / Hugging Face weights (.safetensors) read without PyTorch
        "safetensors==0.8.0",
    ],
    extras_require={
        "test": ["pytest==9.2.0", "pytest-xdist==3.8.0", "torch==2.14.1", "torchvision==0.29.1", "timm==1.0.31"],
    },
    entry_points={"console_scripts": ["model-zoo-demo=model_zoo.demo:main"]},
)
