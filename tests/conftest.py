import os
import sys

# make `import rnn_from_scratch` and `import naive_rnn` work from any folder
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]
